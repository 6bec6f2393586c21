"""Every event type any context publishes is recorded, with its type, envelope and details.

The list comes from ``apps.common.events.registry`` after importing every context's
``events`` module, so a new event type is covered (and checked) the day it is added.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import importlib
import json
import types
import typing
import uuid

import pytest
from django.apps import apps as django_apps

from apps.audit import chain
from apps.audit.models import AuditRecord
from apps.common import context, events

pytestmark = pytest.mark.django_db

ENVELOPE = {f.name for f in dataclasses.fields(events.Event)}
# Spot checks from the issue: these must exist once their contexts publish them.
EXPECTED = {
    "accounts.user.registered", "accounts.user.logged_in", "accounts.login.failed", "accounts.user.logged_out",
    "accounts.password.changed", "accounts.token_family.revoked", "accounts.user.deleted",
    "images.project.created", "images.project.updated", "images.project.deleted", "images.member.added",
    "images.member.changed", "images.member.removed", "images.image.uploaded", "images.image.deleted",
    "segmentation.run.requested", "segmentation.run.started", "segmentation.run.succeeded",
    "segmentation.run.failed", "segmentation.run.cancelled",
    "segmentation.result.edited", "segmentation.result.restored", "tasks.job.dead", "tasks.job.replayed",
    "common.access.denied",
}


def all_event_types() -> dict[str, type[events.Event]]:
    for config in django_apps.get_app_configs():
        if config.name.startswith("apps."):
            try:
                importlib.import_module(f"{config.name}.events")
            except ModuleNotFoundError as exc:
                if exc.name != f"{config.name}.events":
                    raise
    # Published event types live in apps.<context>.events (tests may register throw-away ones).
    return {
        name: cls for name, cls in events.registry.items()
        if cls.__module__.startswith("apps.") and cls.__module__.endswith(".events")
    }


def sample_value(tp, name: str):
    """A non-default value of the field's declared type."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        return args[-1]
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return sample_value(inner[0], name) if inner else None
    if origin in (tuple, list, set, frozenset) or tp in (tuple, list):
        item = sample_value(args[0], name) if args and args[0] is not Ellipsis else f"{name}-item"
        return (origin or tp)([item])
    if origin is dict or tp is dict:
        return {f"{name}_key": "value", "count": 2}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return list(tp)[-1]
    if tp is bool:
        return True
    if tp is int:
        return 42
    if tp is float:
        return 2.5
    if tp is str:
        return f"sample-{name}"
    if tp is uuid.UUID:
        return uuid.uuid4()
    if tp is dt.datetime:
        return dt.datetime(2026, 5, 17, 12, 30, tzinfo=dt.UTC)
    if tp is dt.date:
        return dt.date(2026, 5, 17)
    if tp is typing.Any:
        return f"sample-{name}"
    raise TypeError(f"no sample for {tp!r}")


def sample_event(cls: type[events.Event]) -> events.Event:
    hints = typing.get_type_hints(cls, include_extras=False)
    kwargs = {
        "actor_id": str(uuid.uuid4()),
        "subject_id": str(uuid.uuid4()),
        "project_id": str(uuid.uuid4()),
    }
    for field in dataclasses.fields(cls):
        if field.name in ENVELOPE or not field.init:
            continue
        kwargs[field.name] = sample_value(hints[field.name], field.name)
    return cls(**kwargs)


def test_the_registry_holds_every_context_event():
    names = set(all_event_types())
    assert EXPECTED - names == set(), "events named in the issue are not published by any context"
    for ctx in ("accounts", "images", "segmentation", "tasks"):
        assert any(n.startswith(f"{ctx}.") for n in names), ctx


def test_every_published_event_type_is_recorded():
    registry = all_event_types()
    ctx = context.RequestContext(request_id="coverage-req", client_ip="198.51.100.7", user_agent="coverage/1")
    missing, wrong = [], []
    with context.bind(ctx):
        for name, cls in sorted(registry.items()):
            event = sample_event(cls)
            events.publish(event)
            record = AuditRecord.objects.filter(event_id=event.event_id).first()
            if record is None:
                missing.append(name)
                continue
            expected_details = json.loads(chain.canonical_json(chain.scrub(event.payload())))
            checks = {
                "event_type": (record.event_type, f"{name}.v{cls.version}"),
                "actor": (record.actor, event.actor_id),
                "subject": ((record.subject_type, record.subject_id), (cls.subject_type, event.subject_id)),
                "project": (record.project_id, event.project_id),
                "outcome": (record.outcome, event.outcome if event.outcome in {"success", "denied", "failed"} else "failed"),
                "request": ((record.request_id, record.client_ip, record.user_agent),
                            ("coverage-req", "198.51.100.7", "coverage/1")),
                "details": (record.details, expected_details),
            }
            wrong += [f"{name}: {key} {got!r} != {want!r}" for key, (got, want) in checks.items() if got != want]
            assert cls.subject_type, f"{name} has no subject_type"
    assert missing == [], f"event types not recorded: {missing}"
    assert wrong == []
    assert len(registry) >= len(EXPECTED)


def test_the_coverage_check_can_fail():
    """An event type the audit trail does not receive shows up as missing."""
    from apps.audit import receivers

    receivers.disconnect()
    try:
        with pytest.raises(AssertionError, match="event types not recorded"):
            test_every_published_event_type_is_recorded()
    finally:
        receivers.connect()
