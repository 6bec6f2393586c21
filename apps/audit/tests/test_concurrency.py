"""Concurrent writers keep one linear chain (PostgreSQL: the advisory lock; SQLite: BEGIN IMMEDIATE)."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction

from apps.audit.models import AuditRecord
from apps.common import events

THREADS = 6
PER_THREAD = 15


@pytest.mark.django_db(transaction=True)
def test_concurrent_publishers_keep_the_chain_linear():
    if connection.vendor != "postgresql":
        pytest.skip("real concurrent writers need PostgreSQL (SQLite serialises every write transaction)")
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            start.wait()
            for i in range(PER_THREAD):
                with transaction.atomic():
                    events.publish(events.AccessDeniedEvent(actor_id=str(uuid.uuid4()), subject_id=f"{n}-{i}"))
                    if i % 3 == 0:  # a second record in the same transaction
                        events.publish(events.AccessDeniedEvent(actor_id=str(uuid.uuid4()), subject_id=f"{n}-{i}b"))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    expected = THREADS * (PER_THREAD + len(range(0, PER_THREAD, 3)))
    assert AuditRecord.objects.count() == expected
    assert list(AuditRecord.objects.values_list("sequence", flat=True)) == list(range(1, expected + 1))
    call_command("verify_audit_log")  # raises CommandError on a fork or a broken link


def test_the_chain_head_function_takes_the_services_lock_key():
    import importlib

    from apps.audit.services import AUDIT_LOCK_KEY

    migration = importlib.import_module("apps.audit.migrations.0003_chain_head_function")
    assert f"pg_advisory_xact_lock({AUDIT_LOCK_KEY})" in migration.FORWARD
