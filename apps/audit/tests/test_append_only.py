"""The application and the database refuse to change or delete audit records."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, transaction

from apps.audit import services
from apps.audit.models import AppendOnlyError, AuditRecord
from apps.audit.tests.conftest import raw_sql

pytestmark = pytest.mark.django_db


def test_model_refuses_update_and_delete(publish):
    record = publish()
    record.actor = "someone-else"
    with pytest.raises(AppendOnlyError):
        record.save()
    with pytest.raises(AppendOnlyError):
        record.delete()
    with pytest.raises(AppendOnlyError):
        AuditRecord.objects.filter(pk=record.pk).update(actor="x")
    with pytest.raises(AppendOnlyError):
        AuditRecord.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditRecord.objects.bulk_create([AuditRecord(sequence=99, hash="x", prev_hash="y")])
    assert AuditRecord.objects.get(pk=record.pk).actor != "someone-else"


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditrecord SET actor = 'forged'",
        "DELETE FROM audit_auditrecord",
    ],
)
def test_database_triggers_refuse_raw_update_and_delete(publish, sql):
    record = publish()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw_sql(sql)
    assert AuditRecord.objects.get(pk=record.pk).actor == record.actor


def test_truncate_is_refused_on_postgresql(publish):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("TRUNCATE exists on PostgreSQL only")
    publish()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw_sql("TRUNCATE audit_auditrecord")
    assert AuditRecord.objects.count() == 1


def test_the_archive_gate_opens_deletes_for_its_transaction_only(publish):
    publish()
    publish()
    with services.gate_open_in():
        raw_sql("DELETE FROM audit_auditrecord WHERE sequence = 1")
    assert list(AuditRecord.objects.values_list("sequence", flat=True)) == [2]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw_sql("DELETE FROM audit_auditrecord")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), services.gate_open_in():
        raw_sql("UPDATE audit_auditrecord SET actor = 'forged'")  # the gate never allows updates


def test_admin_is_read_only(publish, make_user, client):
    record = publish()
    admin = make_user(is_staff=True, is_superuser=True)
    client.force_login(admin)
    base = "/admin/audit/auditrecord/"
    assert client.get(base).status_code == 200
    assert client.get(f"{base}?actor={record.actor}&occurred_at__gte=2000-01-01T00:00:00%2B00:00").status_code == 200
    assert client.get(f"{base}add/").status_code == 403
    assert client.get(f"{base}{record.pk}/delete/").status_code == 403
    response = client.post(f"{base}{record.pk}/change/", {"actor": "forged"})
    assert response.status_code == 403
    assert AuditRecord.objects.get(pk=record.pk).actor == record.actor
    assert client.get(f"{base}{record.pk}/change/").status_code == 200  # viewable
