"""Two editors saving on the same base at the same moment: exactly one wins, the other gets
StaleVersion (409), and the history has no gap or duplicate."""

from __future__ import annotations

import threading

import pytest
from django.conf import settings
from django.db import connection

from apps.segmentation import api
from apps.segmentation.contracts import StaleVersion
from apps.segmentation.models import ResultVersion
from apps.segmentation.tests.conftest import SQUARE

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
        reason="the in-memory shared-cache SQLite test database raises 'table is locked' instead of waiting "
        "(the embedded file database serialises writers with BEGIN IMMEDIATE); runs on PostgreSQL",
    ),
]


def test_concurrent_edits_on_one_base_save_exactly_one(world):
    api.save_edit(user_id=world.editor.id, image_id=world.image_id, base_version=None, polygons=[{"exterior": SQUARE}])
    barrier = threading.Barrier(2)
    outcomes: list = []

    def edit(user, x):
        try:
            barrier.wait(timeout=10)
            shape = [[100, 100], [x, 100], [x, 300], [100, 300]]
            outcomes.append(api.save_edit(user_id=user.id, image_id=world.image_id, base_version=1,
                                          polygons=[{"exterior": shape}]))
        except StaleVersion as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=edit, args=(u, x)) for u, x in ((world.editor, 350), (world.owner, 450))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    saved = [o for o in outcomes if not isinstance(o, Exception)]
    refused = [o for o in outcomes if isinstance(o, StaleVersion)]
    assert len(saved) == 1 and len(refused) == 1, outcomes
    assert saved[0].version == 2
    assert list(ResultVersion.objects.filter(image_id=world.image_id).values_list("version", flat=True)) == [2, 1]
