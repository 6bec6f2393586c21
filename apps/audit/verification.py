"""Walk the hash chain (live table or JSON Lines archives) and name the first broken link.

A link breaks when a record's content no longer matches its hash (edited), when its
``prev_hash`` is not the previous record's hash (a record inserted, deleted or re-hashed), or
when sequence numbers skip (records deleted). The first live record must be the genesis
record (sequence 1, ``prev_hash`` all zeros) or be anchored by a checkpoint record left by
``archive_audit_log`` (its ``anchor_sequence``/``anchor_hash``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from apps.audit import chain
from apps.audit.models import AuditRecord


@dataclasses.dataclass
class VerifyResult:
    ok: bool
    count: int = 0
    error: str | None = None
    broken_sequence: int | None = None
    broken_id: str | None = None
    first_sequence: int | None = None
    head_sequence: int | None = None
    head_hash: str | None = None
    start_prev_hash: str | None = None


def _label(fields: dict[str, Any]) -> str:
    return f"record #{fields.get('sequence')} (id {fields.get('id')}, {fields.get('event_type')})"


def verify_fields(
    records: Iterable[dict[str, Any]], *, anchors: dict[int, str] | None = None, standalone: bool = False
) -> VerifyResult:
    """Verify records given as dicts of their fields plus ``hash``, in sequence order.

    ``anchors`` maps a sequence number to the hash a checkpoint vouches for (live table);
    ``standalone`` (archives) accepts any ``prev_hash`` on the first record and reports it.
    """
    result = VerifyResult(ok=True)
    prev: dict[str, Any] | None = None
    for fields in records:
        seq = fields.get("sequence")
        if not isinstance(seq, int):
            return _broken(result, fields, f"{_label(fields)} has no valid sequence number")
        if chain.compute_hash(fields) != fields.get("hash"):
            return _broken(result, fields, f"{_label(fields)}: content does not match its hash (edited)")
        if prev is None:
            result.first_sequence = seq
            result.start_prev_hash = fields["prev_hash"]
            if seq == 1:
                if fields["prev_hash"] != chain.GENESIS_HASH:
                    return _broken(result, fields, f"{_label(fields)}: genesis record has a non-zero prev_hash")
            elif not standalone and (anchors or {}).get(seq - 1) != fields["prev_hash"]:
                return _broken(
                    result, fields,
                    f"{_label(fields)}: records before it are missing and no checkpoint anchors its prev_hash "
                    "(deleted without archive_audit_log?)",
                )
        else:
            if seq != prev["sequence"] + 1:
                return _broken(
                    result, fields,
                    f"{_label(fields)}: sequence gap after #{prev['sequence']} "
                    f"({seq - prev['sequence'] - 1} record(s) missing: deleted)",
                )
            if fields["prev_hash"] != prev["hash"]:
                return _broken(
                    result, fields,
                    f"{_label(fields)}: prev_hash does not match the hash of #{prev['sequence']} "
                    "(a record was inserted, deleted or re-hashed)",
                )
        result.count += 1
        prev = fields
    if prev is not None:
        result.head_sequence = prev["sequence"]
        result.head_hash = prev["hash"]
    return result


def _broken(result: VerifyResult, fields: dict[str, Any], message: str) -> VerifyResult:
    result.ok = False
    result.error = message
    result.broken_sequence = fields.get("sequence") if isinstance(fields.get("sequence"), int) else None
    result.broken_id = str(fields.get("id"))
    return result


def checkpoint_anchors(using: str | None = None) -> dict[int, str]:
    from apps.audit.services import CHECKPOINT_EVENT

    anchors: dict[int, str] = {}
    qs = AuditRecord.objects.filter(event_type=CHECKPOINT_EVENT)
    if using:
        qs = qs.using(using)
    for details in qs.values_list("details", flat=True):
        if isinstance(details, dict) and isinstance(details.get("anchor_sequence"), int):
            anchors[details["anchor_sequence"]] = str(details.get("anchor_hash"))
    return anchors


def _rows(queryset) -> Iterator[dict[str, Any]]:
    for record in queryset.order_by("sequence").iterator(chunk_size=2000):
        yield chain.record_fields(record)


def verify_queryset(queryset, *, using: str | None = None) -> VerifyResult:
    return verify_fields(_rows(queryset), anchors=checkpoint_anchors(using))


def verify_database(using: str | None = None) -> VerifyResult:
    qs = AuditRecord.objects.all()
    if using:
        qs = qs.using(using)
    return verify_queryset(qs, using=using)


def _archive_lines(paths: list[Path]) -> Iterator[dict[str, Any]]:
    for path in paths:
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                except ValueError:
                    yield {"sequence": None, "id": f"{path.name}:{number}", "event_type": "unparseable line"}
                    return
                yield data


def verify_archives(paths: list[Path | str]) -> VerifyResult:
    """Verify one archive, or several in order (each continuing the previous one)."""
    return verify_fields(_archive_lines([Path(p) for p in paths]), standalone=True)
