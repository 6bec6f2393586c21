"""Writes of the audit context: append one record to the chain, archive old records.

:func:`append` is the only way a record is written. It runs inside the caller's transaction
(a savepoint), takes the chain lock, reads the head (sequence, hash), and inserts the next
record with ``prev_hash = head.hash``. The lock is what keeps the chain linear when requests
run concurrently:

* PostgreSQL: ``pg_advisory_xact_lock(AUDIT_LOCK_KEY)``: held until the publisher's
  transaction commits or rolls back, so the next writer reads a committed head;
* SQLite: every transaction starts with ``BEGIN IMMEDIATE`` (settings), so writers are
  serialised by the database already.

The UNIQUE constraints on ``sequence`` and ``hash`` turn any fork into an error instead of a
silently branched chain.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

from django.db import connections, router, transaction
from django.utils import timezone

from apps.audit import chain
from apps.audit.models import AuditRecord, Outcome
from apps.common.events import Event
from apps.common.transactions import pending_on_commit

logger = logging.getLogger(__name__)

AUDIT_LOCK_KEY = 0x5350_4845_524F_4155  # "SPHEROAU": the one advisory lock of the chain
CHECKPOINT_EVENT = "audit.checkpoint.v1"
ADMIN_EVENT = "admin.change.v1"
SYSTEM_ACTOR = "system"
SQLITE_GATE_TABLE = "audit_archive_gate"


def _db() -> str:
    return router.db_for_write(AuditRecord)


def _lock_chain(using: str) -> None:
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_LOCK_KEY])
    # SQLite: BEGIN IMMEDIATE already holds the database's write lock.


def _id_text(value: Any) -> str:
    """Ids as stored: UUIDs in their canonical hyphenated form, anything else as text."""
    if value is None or value == "":
        return ""
    text = str(value)
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return text[:64]


def append(
    *,
    event_type: str,
    event_id: str | None = None,
    occurred_at: dt.datetime | None = None,
    actor: str | None = None,
    subject_type: str = "",
    subject_id: Any = None,
    project_id: Any = None,
    outcome: str = Outcome.SUCCESS,
    client_ip: str | None = None,
    user_agent: str | None = None,
    request_id: str | None = None,
    details: dict | None = None,
    using: str | None = None,
) -> AuditRecord:
    """Append one record to the chain inside the current transaction."""
    using = using or _db()
    if outcome not in Outcome.values:
        outcome = Outcome.FAILED if outcome else Outcome.SUCCESS
    # What is hashed is exactly what the database gives back (JSON round trip).
    clean_details = json.loads(chain.canonical_json(chain.scrub(details or {})))
    now = timezone.now()
    values = {
        "id": uuid.uuid4(),
        "event_type": event_type[:200],
        "event_id": (event_id or uuid.uuid4().hex)[:64],
        "occurred_at": occurred_at or now,
        "recorded_at": now,
        "actor": _id_text(actor) or SYSTEM_ACTOR,
        "subject_type": (subject_type or "")[:64],
        "subject_id": _id_text(subject_id),
        "project_id": _id_text(project_id),
        "outcome": outcome,
        "client_ip": (client_ip or "")[:64],
        "user_agent": (user_agent or "")[:512],
        "request_id": (request_id if request_id and request_id != "-" else "")[:128],
        "details": clean_details,
    }
    connection = connections[using]
    # No savepoint: a record that cannot be written fails the whole change anyway.
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        head = _known_head(connection, using)
        if head is None:
            cursor.execute(_head_sql(connection))  # PostgreSQL: takes the chain lock first
            head = cursor.fetchone()
        values["sequence"], values["prev_hash"] = (head[0] + 1, head[1]) if head else (1, chain.GENESIS_HASH)
        values["hash"] = chain.compute_hash(values)
        # A plain INSERT (no ORM save path): this runs for every audited change.
        cursor.execute(_insert_sql(connection), [f.get_db_prep_save(values[f.attname], connection) for f in _FIELDS])
        _remember_head(connection, using, values["sequence"], values["hash"])
    record = AuditRecord(**values)
    record._state.adding = False
    record._state.db = using
    return record


def _known_head(connection, using: str) -> tuple[int, str] | None:
    """The head this transaction wrote last, while it still holds the chain lock.

    Several records in one transaction (a job's start, its result) then read the head once.
    The marker is an on-commit callback: Django drops it when the transaction commits or rolls
    back, and when the savepoint it was registered in rolls back (with the record written
    there), so a head that is no longer this transaction's is never reused.
    """
    known = getattr(connection, "_audit_head", None)
    if known is None:
        return None
    marker, head = known
    if any(callback is marker for callback in pending_on_commit(using)):
        return head
    connection._audit_head = None
    return None


def _remember_head(connection, using: str, sequence: int, hash_: str) -> None:
    def marker() -> None:
        connection._audit_head = None

    transaction.on_commit(marker, using=using)
    connection._audit_head = (marker, (sequence, hash_))


def forget_head(using: str | None = None) -> None:
    """Read the head from the table at the next append (after a write outside :func:`append`)."""
    connections[using or _db()]._audit_head = None


_FIELDS = AuditRecord._meta.concrete_fields
_TABLE = AuditRecord._meta.db_table


def _head_sql(connection) -> str:
    if connection.vendor == "postgresql":
        # One round trip: audit_chain_head() takes pg_advisory_xact_lock, then reads the head
        # with a fresh snapshot (a VOLATILE function's statements each take one): migration 0003.
        return "SELECT seq, h FROM audit_chain_head()"
    return f"SELECT sequence, hash FROM {_TABLE} ORDER BY sequence DESC LIMIT 1"  # noqa: S608 (constant)


def _insert_sql(connection) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in _FIELDS)
    return f"INSERT INTO {quote(_TABLE)} ({columns}) VALUES ({', '.join(['%s'] * len(_FIELDS))})"  # noqa: S608


# --------------------------------------------------------------------------- event bus


def event_type_of(event: Event) -> str:
    return event.versioned_name


def record_event(event: Event) -> AuditRecord:
    """In-transaction subscriber to every event (``apps.common.events.ALL``)."""
    request = event.request
    return append(
        event_type=event_type_of(event),
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        actor=event.actor_id or request.actor_id or SYSTEM_ACTOR,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        project_id=event.project_id,
        outcome=event.outcome,
        client_ip=request.client_ip,
        user_agent=request.user_agent,
        request_id=request.request_id,
        details=event.payload(),
    )


# --------------------------------------------------------------------------- Django admin


ADMIN_ACTIONS = {1: "addition", 2: "change", 3: "deletion"}


def record_admin_entry(entry) -> AuditRecord:
    """A Django admin LogEntry (who added, changed or deleted which object) as a record."""
    from django.contrib.contenttypes.models import ContentType

    from apps.common import context

    try:
        ct = ContentType.objects.get_for_id(entry.content_type_id) if entry.content_type_id else None
    except ContentType.DoesNotExist:
        ct = None
    try:
        change = json.loads(entry.change_message) if entry.change_message else []
    except ValueError:
        change = entry.change_message
    request = context.current()
    return append(
        event_type=ADMIN_EVENT,
        occurred_at=entry.action_time,
        actor=entry.user_id,
        subject_type=f"{ct.app_label}.{ct.model}" if ct else "",
        subject_id=entry.object_id,
        outcome=Outcome.SUCCESS,
        client_ip=request.client_ip,
        user_agent=request.user_agent,
        request_id=request.request_id,
        details={
            "action": ADMIN_ACTIONS.get(entry.action_flag, str(entry.action_flag)),
            "object_repr": entry.object_repr,
            "change_message": change,
        },
    )


# --------------------------------------------------------------------------- retention


@dataclasses.dataclass(frozen=True)
class ArchiveResult:
    archived: int
    first_sequence: int | None
    last_sequence: int | None
    checkpoint_sequence: int | None
    archive_sha256: str | None


class ArchiveRefused(Exception):
    """The records to archive do not verify: they are kept as evidence."""


def _has_gate_table(connection) -> bool:
    return SQLITE_GATE_TABLE in connection.introspection.table_names()


def _open_gate(using: str) -> None:
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL spheroseg.audit_archive = 'on'")
        elif connection.vendor == "sqlite" and _has_gate_table(connection):
            cursor.execute("INSERT OR IGNORE INTO audit_archive_gate (id) VALUES (1)")


def _close_gate(using: str) -> None:
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL spheroseg.audit_archive = 'off'")
        elif connection.vendor == "sqlite" and _has_gate_table(connection):
            cursor.execute("DELETE FROM audit_archive_gate")


def gate_open_in(using: str | None = None):
    """Context manager: deletes allowed inside the current transaction only (archive, flush)."""
    from contextlib import contextmanager

    @contextmanager
    def _gate():
        db = using or _db()
        # On error the atomic block rolls back, and the gate with it (SET LOCAL inside a
        # rolled-back savepoint is undone; so is the SQLite gate row).
        with transaction.atomic(using=db):
            _open_gate(db)
            yield
            _close_gate(db)

    return _gate()


def archive(*, before: dt.datetime, out: Path | str, using: str | None = None) -> ArchiveResult:
    """Move records recorded before ``before`` to a JSON Lines file, leave a checkpoint.

    The archived range is a prefix of the chain (every record up to the last one recorded
    before the date). It must verify first: a broken chain is never archived away. The file is
    written and flushed before the rows are deleted; if the transaction then fails the rows
    stay and the file is a harmless copy.
    """
    from apps.audit import verification

    using = using or _db()
    out = Path(out)
    with transaction.atomic(using=using):
        _lock_chain(using)
        last = (
            AuditRecord.objects.using(using).filter(recorded_at__lt=before).order_by("-sequence").first()
        )
        if last is None:
            return ArchiveResult(0, None, None, None, None)
        rows = AuditRecord.objects.using(using).filter(sequence__lte=last.sequence).order_by("sequence")
        result = verification.verify_queryset(rows, using=using)
        if not result.ok:
            raise ArchiveRefused(f"refusing to archive a broken chain: {result.error}")
        digest = hashlib.sha256()
        count = 0
        first_sequence = None
        tmp = out.with_name(out.name + ".partial")
        with tmp.open("w", encoding="utf-8") as fh:
            for record in rows.iterator(chunk_size=2000):
                line = chain.to_json_line(record) + "\n"
                fh.write(line)
                digest.update(line.encode("utf-8"))
                count += 1
                first_sequence = first_sequence if first_sequence is not None else record.sequence
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
        with gate_open_in(using):
            rows._archive_delete()
        forget_head(using)  # the head is whatever the table holds now
        checkpoint = append(
            event_type=CHECKPOINT_EVENT,
            actor=SYSTEM_ACTOR,
            subject_type="audit.archive",
            subject_id=digest.hexdigest()[:64],
            outcome=Outcome.SUCCESS,
            details={
                "anchor_sequence": last.sequence,
                "anchor_hash": last.hash,
                "first_sequence": first_sequence,
                "archived": count,
                "before": chain.format_time(before),
                "archive_file": out.name,
                "archive_sha256": digest.hexdigest(),
            },
            using=using,
        )
    return ArchiveResult(count, first_sequence, last.sequence, checkpoint.sequence, digest.hexdigest())
