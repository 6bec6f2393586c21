"""Helpers for the audit tests."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def raw_sql(sql: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def drop_triggers() -> None:
    """Inside a test's transaction (rolled back afterwards on both databases: DDL is transactional)."""
    if is_postgres():
        raw_sql("DROP TRIGGER audit_record_no_update_delete ON audit_auditrecord")
    else:
        raw_sql("DROP TRIGGER audit_record_no_update")
        raw_sql("DROP TRIGGER audit_record_no_delete")


@pytest.fixture
def sample_event():
    from apps.common.events import AccessDeniedEvent

    def factory(**kwargs):
        kwargs.setdefault("actor_id", str(uuid.uuid4()))
        kwargs.setdefault("subject_id", str(uuid.uuid4()))
        kwargs.setdefault("project_id", str(uuid.uuid4()))
        kwargs.setdefault("resource", "project")
        kwargs.setdefault("status_code", 404)
        return AccessDeniedEvent(**kwargs)

    return factory


@pytest.fixture
def publish(sample_event):
    """Publish a sample event and return its audit record."""
    from apps.audit.models import AuditRecord
    from apps.common import events

    def do(event=None, **kwargs):
        event = event or sample_event(**kwargs)
        events.publish(event)
        return AuditRecord.objects.get(event_id=event.event_id)

    return do
