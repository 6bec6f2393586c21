"""Reads of the audit context: filtered record querysets for the API, the page and the admin."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from apps.audit.models import AuditRecord


@dataclass(frozen=True)
class RecordFilter:
    actor: str | None = None
    project_id: str | None = None
    event_type: str | None = None  # exact ("images.project.created.v1") or a prefix ending in "." / "*"
    subject_type: str | None = None
    subject_id: str | None = None
    outcome: str | None = None
    request_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def normalise_id(value: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return str(value)


def records(flt: RecordFilter | None = None):
    """Records matching ``flt``, oldest first (cursor pagination orders by sequence)."""
    qs = AuditRecord.objects.all()
    flt = flt or RecordFilter()
    if flt.actor:
        qs = qs.filter(actor=normalise_id(flt.actor))
    if flt.project_id:
        qs = qs.filter(project_id=normalise_id(flt.project_id))
    if flt.event_type:
        if flt.event_type.endswith(("*", ".")):
            qs = qs.filter(event_type__startswith=flt.event_type.rstrip("*"))
        else:
            qs = qs.filter(event_type=flt.event_type)
    if flt.subject_type:
        qs = qs.filter(subject_type=flt.subject_type)
    if flt.subject_id:
        qs = qs.filter(subject_id=normalise_id(flt.subject_id))
    if flt.outcome:
        qs = qs.filter(outcome=flt.outcome)
    if flt.request_id:
        qs = qs.filter(request_id=flt.request_id)
    if flt.since:
        qs = qs.filter(occurred_at__gte=flt.since)
    if flt.until:
        qs = qs.filter(occurred_at__lt=flt.until)
    return qs.order_by("sequence")


def project_records(project_id: str, flt: RecordFilter | None = None):
    """The trail of one project (records whose project is it, or whose subject is it)."""
    from django.db.models import Q

    pid = normalise_id(project_id)
    base = records(flt)
    return base.filter(Q(project_id=pid) | Q(subject_type="project", subject_id=pid))
