"""verify_audit_log names the first broken link; archive_audit_log keeps the chain verifiable."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apps.audit import chain, services
from apps.audit.models import AuditRecord
from apps.audit.tests.conftest import drop_triggers, raw_sql

pytestmark = pytest.mark.django_db


def verify(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("verify_audit_log", *args, stdout=out)
    return out.getvalue()


def make_records(publish, n=5):
    return [publish() for _ in range(n)]


def test_intact_chain_verifies(publish):
    assert "0 records verified" in verify()
    make_records(publish)
    assert "5 records verified" in verify()


def test_an_edited_record_is_named(publish):
    records = make_records(publish)
    drop_triggers()
    raw_sql("UPDATE audit_auditrecord SET actor = 'forged' WHERE sequence = 3")
    with pytest.raises(CommandError) as err:
        verify()
    message = str(err.value)
    assert "record #3" in message and str(records[2].id) in message and "edited" in message


def test_edited_details_are_caught(publish):
    make_records(publish, 3)
    drop_triggers()
    raw_sql("UPDATE audit_auditrecord SET details = %s WHERE sequence = 2", [json.dumps({"resource": "image"})])
    with pytest.raises(CommandError, match=r"record #2 .*edited"):
        verify()


def test_a_deleted_record_is_named(publish):
    make_records(publish)
    drop_triggers()
    raw_sql("DELETE FROM audit_auditrecord WHERE sequence = 3")
    with pytest.raises(CommandError, match=r"record #4 .*sequence gap after #2"):
        verify()


def test_deleting_the_oldest_records_without_archive_is_caught(publish):
    make_records(publish)
    drop_triggers()
    raw_sql("DELETE FROM audit_auditrecord WHERE sequence <= 2")
    with pytest.raises(CommandError, match=r"record #3 .*no checkpoint anchors"):
        verify()


def test_an_inserted_rehashed_record_is_named(publish):
    """A forger edits record 3 and recomputes its hash: the link from record 4 breaks."""
    records = make_records(publish)
    drop_triggers()
    forged = AuditRecord.objects.get(sequence=3)
    forged.actor = "forged"
    new_hash = chain.compute_hash(chain.record_fields(forged))
    raw_sql("UPDATE audit_auditrecord SET actor = 'forged', hash = %s WHERE sequence = 3", [new_hash])
    with pytest.raises(CommandError) as err:
        verify()
    assert "record #4" in str(err.value) and str(records[3].id) in str(err.value)
    assert "prev_hash does not match the hash of #3" in str(err.value)


def _age_all_records(days: int) -> None:
    drop_triggers()
    raw_sql("UPDATE audit_auditrecord SET recorded_at = %s", [timezone.now() - dt.timedelta(days=days)])
    # recorded_at is hashed: re-seal the aged rows the way a fresh database would have written them.
    previous = chain.GENESIS_HASH
    for record in AuditRecord.objects.order_by("sequence"):
        record.prev_hash = previous
        record.hash = chain.compute_hash(chain.record_fields(record))
        raw_sql("UPDATE audit_auditrecord SET prev_hash = %s, hash = %s WHERE id = %s",
                [record.prev_hash, record.hash, str(record.id) if _pg() else record.id.hex])
        previous = record.hash
    _restore_triggers()
    services.forget_head()  # the rows were rewritten outside append()


def _pg():
    from django.db import connection

    return connection.vendor == "postgresql"


def _restore_triggers():
    import importlib

    from django.db import connection

    migration = importlib.import_module("apps.audit.migrations.0002_append_only_triggers")
    statements = migration.PG_FORWARD[:2] if _pg() else migration.SQLITE_FORWARD
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def test_archive_moves_old_records_and_leaves_a_verifiable_chain(publish, tmp_path):
    make_records(publish, 4)
    _age_all_records(days=40)
    assert "4 records verified" in verify()
    newer = make_records(publish, 2)
    out = tmp_path / "audit-1.jsonl"
    call_command("archive_audit_log", "--before", (timezone.now() - dt.timedelta(days=30)).date().isoformat(),
                 "--out", str(out))
    remaining = list(AuditRecord.objects.order_by("sequence"))
    assert [r.sequence for r in remaining] == [5, 6, 7]
    assert [r.id for r in remaining[:2]] == [r.id for r in newer]
    checkpoint = remaining[-1]
    assert checkpoint.event_type == services.CHECKPOINT_EVENT
    assert checkpoint.details["anchor_sequence"] == 4 and checkpoint.details["archived"] == 4
    assert "3 records verified" in verify()
    lines = out.read_text().splitlines()
    assert [json.loads(line)["sequence"] for line in lines] == [1, 2, 3, 4]
    assert "4 records verified" in verify("--archive", str(out))

    # A second archive continues the first; both verify together, in order.
    _age_all_records_keep_chain()
    out2 = tmp_path / "audit-2.jsonl"
    call_command("archive_audit_log", "--before", timezone.now().isoformat(), "--out", str(out2))
    assert [r.event_type for r in AuditRecord.objects.all()] == [services.CHECKPOINT_EVENT]
    assert "1 records verified" in verify()
    assert "7 records verified" in verify("--archive", str(out), "--archive", str(out2))
    report = verify("--archive", str(out2))
    assert "continues a chain whose record #4" in report

    # A tampered archive fails and names the line's record.
    tampered = tmp_path / "tampered.jsonl"
    data = [json.loads(line) for line in lines]
    data[1]["actor"] = "forged"
    tampered.write_text("\n".join(json.dumps(d) for d in data) + "\n")
    with pytest.raises(CommandError, match=rf"record #2 \(id {data[1]['id']}"):
        verify("--archive", str(tampered))


def _age_all_records_keep_chain():
    """Everything is older than 'now' already: nothing to do (records were written before)."""


def test_archive_with_nothing_old_does_nothing(publish, tmp_path):
    make_records(publish, 2)
    out = tmp_path / "none.jsonl"
    call_command("archive_audit_log", "--before", "2000-01-01", "--out", str(out))
    assert not out.exists() and AuditRecord.objects.count() == 2


def test_archive_refuses_a_broken_chain_and_bad_arguments(publish, tmp_path):
    make_records(publish, 3)
    drop_triggers()
    raw_sql("UPDATE audit_auditrecord SET actor = 'forged' WHERE sequence = 2")
    _restore_triggers()
    with pytest.raises(CommandError, match="refusing to archive a broken chain: record #2"):
        call_command("archive_audit_log", "--before", timezone.now().isoformat(), "--out", str(tmp_path / "a.jsonl"))
    assert AuditRecord.objects.count() == 3
    with pytest.raises(CommandError, match="not a date"):
        call_command("archive_audit_log", "--before", "yesterday", "--out", str(tmp_path / "b.jsonl"))
    existing = tmp_path / "exists.jsonl"
    existing.write_text("")
    with pytest.raises(CommandError, match="exists"):
        call_command("archive_audit_log", "--before", "2030-01-01", "--out", str(existing))
