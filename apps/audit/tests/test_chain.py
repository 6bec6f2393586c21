"""Records: fields from the event and its request, scrubbed details, linked hashes."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import transaction

from apps.audit import chain, services
from apps.audit.models import AuditRecord
from apps.common import context, events

pytestmark = pytest.mark.django_db


def test_a_published_event_becomes_a_linked_hashed_record(publish):
    ctx = context.RequestContext(request_id="req-123", client_ip="203.0.113.9", user_agent="pytest-agent/1")
    with context.bind(ctx):
        first = publish()
        second = publish()
    assert first.sequence + 1 == second.sequence
    assert second.prev_hash == first.hash
    assert first.event_type == "common.access.denied.v1"
    assert first.outcome == "denied"
    assert (first.request_id, first.client_ip, first.user_agent) == ("req-123", "203.0.113.9", "pytest-agent/1")
    assert first.details["resource"] == "project" and first.details["status_code"] == 404
    for record in (first, second):
        record.refresh_from_db()
        assert chain.compute_hash(chain.record_fields(record)) == record.hash


def test_genesis_record_links_to_zero_hash(publish):
    assert AuditRecord.objects.count() == 0
    record = publish()
    assert (record.sequence, record.prev_hash) == (1, chain.GENESIS_HASH)


def test_actor_falls_back_to_request_actor_then_system(publish):
    user_id = uuid.uuid4()
    with context.bind(context.RequestContext(request_id="r1", actor_id=str(user_id))):
        assert publish(actor_id=None).actor == str(user_id)
    assert publish(actor_id=None).actor == "system"


def test_ids_are_stored_in_canonical_uuid_form(publish):
    pid = uuid.uuid4()
    record = publish(project_id=pid.hex, subject_id=pid.hex.upper())
    assert record.project_id == str(pid) and record.subject_id == str(pid)


def test_details_never_keep_secrets_or_file_contents():
    record = services.append(
        event_type="test.secret.v1",
        details={
            "password": "hunter2-hunter2", "new_password1": "x", "refresh": "eyJ...", "access_token": "eyJ...",
            "Authorization": "Bearer abc", "client_secret": "s", "reset_token": "t", "session_key": "k",
            "content": b"\x89PNG....", "nested": {"api_key": "k", "keep": "yes", "blob": b"123"},
            "raw_bytes_value": b"12345", "email_sha256": "abc", "access_level": "viewer", "passed": 3,
        },
    )
    record.refresh_from_db()
    flat = repr(record.details)
    for secret in ("hunter2", "eyJ", "Bearer", "PNG"):
        assert secret not in flat
    assert record.details == {
        "content": "[file contents omitted]",
        "nested": {"keep": "yes", "blob": "[file contents omitted]"},
        "raw_bytes_value": "[5 bytes omitted]",
        "email_sha256": "abc",
        "access_level": "viewer",
        "passed": 3,
    }


def test_awkward_details_hash_the_same_after_the_database_round_trip():
    details = {
        "float": 0.1 + 0.2, "big": 1e300, "tiny": 1e-7, "nan": float("nan"), "unicode": "Žluťoučký kůň 🐴",
        "nul": "a\x00b", "when": dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC), "set": {"b", "a"},
        "tuple": (1, 2), "long": "x" * 5000, "int": 2**62, "none": None, "empty": {},
    }
    record = services.append(event_type="test.odd.v1", details=details)
    fresh = AuditRecord.objects.get(pk=record.pk)
    assert chain.compute_hash(chain.record_fields(fresh)) == fresh.hash
    assert fresh.details["nan"] == "nan" and fresh.details["nul"] == "ab" and fresh.details["set"] == ["a", "b"]
    assert len(fresh.details["long"]) == chain.MAX_STRING + 1


def test_a_record_rolls_back_with_its_change(publish, make_user):
    before = AuditRecord.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        publish()
        raise RuntimeError("the change fails")
    assert AuditRecord.objects.count() == before


@pytest.mark.django_db(transaction=True)
def test_records_of_one_transaction_read_the_head_once():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def head_reads(ctx):
        head_sql = services._head_sql(connection)
        return sum(q["sql"] == head_sql for q in ctx.captured_queries)

    services.append(event_type="test.zero.v1")  # committed: a head to continue from
    with CaptureQueriesContext(connection) as one_transaction, transaction.atomic():
        first = services.append(event_type="test.first.v1")
        second = services.append(event_type="test.second.v1")
    with CaptureQueriesContext(connection) as next_transaction:
        third = services.append(event_type="test.third.v1")
    assert head_reads(one_transaction) == 1  # the second record knew the head it wrote itself
    assert head_reads(next_transaction) == 1  # a new transaction reads it (and takes the lock) again
    assert [(r.sequence, r.prev_hash) for r in (second, third)] == [
        (first.sequence + 1, first.hash), (first.sequence + 2, second.hash)]
    for record in AuditRecord.objects.all():
        assert chain.compute_hash(chain.record_fields(record)) == record.hash


def test_a_head_rolled_back_with_its_savepoint_is_not_reused(publish):
    kept = publish()
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():  # a savepoint
            publish()
            raise RuntimeError("the inner change fails")
        after = services.append(event_type="test.after.v1")
    assert (after.sequence, after.prev_hash) == (kept.sequence + 1, kept.hash)
    records = list(AuditRecord.objects.order_by("sequence"))
    assert all(b.prev_hash == a.hash and b.sequence == a.sequence + 1 for a, b in zip(records, records[1:], strict=False))


def test_a_change_whose_record_cannot_be_written_does_not_happen(monkeypatch, sample_event, make_user):
    def broken(**kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(services, "append", broken)
    user = make_user()
    with pytest.raises(RuntimeError, match="audit store down"), transaction.atomic():
        user.name = "changed"
        user.save()
        events.publish(sample_event())
    user.refresh_from_db()
    assert user.name != "changed"


def test_a_payload_field_named_version_is_refused_at_class_definition():
    import dataclasses

    with pytest.raises(TypeError, match="version"):

        @dataclasses.dataclass(frozen=True, kw_only=True)
        class VersionedPayload(events.Event):
            name = "test.audit.version_field"
            subject_type = "thing"
            version: int = 7

    assert "test.audit.version_field" not in events.registry

