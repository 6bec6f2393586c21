"""Operators see the model registry and result versions in the admin (history is read-only)."""

import pytest
from django.test import Client

from apps.segmentation import api
from apps.segmentation.tests.conftest import SQUARE

pytestmark = pytest.mark.django_db


def test_admin_lists_models_and_versions_read_only(world, make_user):
    api.save_edit(user_id=world.editor.id, image_id=world.image_id, base_version=None, polygons=[{"exterior": SQUARE}])
    api.list_models()
    staff = make_user(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    models = client.get("/admin/segmentation/segmentationmodel/")
    assert models.status_code == 200 and b"classical" in models.content
    versions = client.get("/admin/segmentation/resultversion/")
    assert versions.status_code == 200 and str(world.image_id).encode() in versions.content
    assert client.get("/admin/segmentation/resultversion/add/").status_code == 403
