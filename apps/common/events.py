"""In-process event bus: contexts publish versioned events, others subscribe.

* Each context declares its events in its own ``events.py`` as frozen dataclasses deriving
  from :class:`Event` with a unique ``name`` (``"<context>.<subject>.<verb>"``) and ``version``.
* Subscribers register in ``AppConfig.ready`` with :func:`subscribe`.
* ``phase="after_commit"`` (default) handlers run after the publishing transaction commits;
  a failing handler is logged and never breaks the publisher.
* ``phase="in_transaction"`` handlers run at once, inside the publisher's transaction, so
  their writes commit or roll back with the change (used by the audit trail). Their errors
  propagate: a change whose record cannot be written does not happen.

The bus is the seam where a context can later move to its own service: replace the
dispatch by a message relay with the same payloads (``Event.to_dict``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar, Literal

from django.db import transaction

from apps.common import context

logger = logging.getLogger(__name__)

Phase = Literal["after_commit", "in_transaction"]
Handler = Callable[["Event"], None]

#: Every concrete event type by name (filled when the class is defined).
registry: dict[str, type[Event]] = {}
_subscribers: dict[Phase, dict[str, list[Handler]]] = {
    "after_commit": defaultdict(list),
    "in_transaction": defaultdict(list),
}
ALL = "*"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Event:
    """Base of all published events.

    Subclasses set ``name`` and ``subject_type`` and add their own fields. ``subject_id``
    names the object the event is about; ``project_id`` the project it belongs to, if any.
    """

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    subject_type: ClassVar[str] = ""

    subject_id: str | None = None
    actor_id: str | None = None
    project_id: str | None = None
    outcome: Literal["success", "denied", "failed"] = "success"
    event_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)
    occurred_at: dt.datetime = dataclasses.field(default_factory=_now)
    request: context.RequestContext = dataclasses.field(default_factory=context.current)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        annotation = cls.__dict__.get("__annotations__", {}).get("version")
        if annotation is not None and "ClassVar" not in str(annotation):
            # A payload field would shadow the schema version (``versioned_name``, audit type).
            raise TypeError(f"{cls.__qualname__}: a payload field may not be named 'version' (the event's schema version)")
        if cls.name:
            other = registry.get(cls.name)
            if other is not None and other.__qualname__ != cls.__qualname__:
                raise TypeError(f"event name {cls.name!r} already used by {other.__qualname__}")
            registry[cls.name] = cls

    @property
    def versioned_name(self) -> str:
        return f"{self.name}.v{self.version}"

    def payload(self) -> dict[str, Any]:
        """The event's own fields (everything but the envelope), JSON-friendly."""
        envelope = {f.name for f in dataclasses.fields(Event)}
        return {
            f.name: _jsonable(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name not in envelope
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "event_id": self.event_id,
            "occurred_at": self.occurred_at.isoformat(),
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "actor_id": self.actor_id,
            "project_id": self.project_id,
            "outcome": self.outcome,
            "request": self.request.as_dict(),
            "payload": self.payload(),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    return value


def subscribe(event: type[Event] | str, handler: Handler, *, phase: Phase = "after_commit") -> None:
    """Register ``handler`` for an event class, an event name, or ``ALL``. Idempotent."""
    name = event if isinstance(event, str) else event.name
    handlers = _subscribers[phase][name]
    if handler not in handlers:
        handlers.append(handler)


def unsubscribe(event: type[Event] | str, handler: Handler, *, phase: Phase = "after_commit") -> None:
    name = event if isinstance(event, str) else event.name
    handlers = _subscribers[phase][name]
    if handler in handlers:
        handlers.remove(handler)


def _handlers(phase: Phase, name: str) -> list[Handler]:
    return [*_subscribers[phase].get(name, ()), *_subscribers[phase].get(ALL, ())]


def publish(event: Event, *, using: str | None = None) -> None:
    """Publish ``event``: in-transaction handlers now, the others after commit."""
    if not event.name or registry.get(event.name) is not type(event):
        raise TypeError(f"{type(event).__qualname__} is not a registered event")
    for handler in _handlers("in_transaction", event.name):
        handler(event)
    transaction.on_commit(partial(_dispatch_after_commit, event), using=using)


def _dispatch_after_commit(event: Event) -> None:
    for handler in _handlers("after_commit", event.name):
        try:
            with context.bind(event.request):
                handler(event)
        except Exception:
            logger.exception("event subscriber %s failed for %s", getattr(handler, "__qualname__", handler), event.name)


# --------------------------------------------------------------------------- access denials


@dataclasses.dataclass(frozen=True, kw_only=True)
class AccessDeniedEvent(Event):
    """A request was refused (401, 403, or 404 for an object the user may not see).

    ``subject_id`` is the object asked for (a project, image, job ... id from the URL) and
    ``resource`` its kind; ``project_id`` is set when the URL names a project. Published by the
    shared DRF exception handler (:mod:`apps.common.http`) after the view's transaction has
    rolled back, so the record of the refusal stays; views may also call :func:`publish_denied`.
    """

    name = "common.access.denied"
    subject_type = "resource"

    outcome: Literal["success", "denied", "failed"] = "denied"
    resource: str = ""
    status_code: int = 403
    code: str = ""
    method: str = ""
    path: str = ""
    view: str = ""


def publish_denied(
    *,
    actor_id: str | None,
    resource: str = "",
    resource_id: str | None = None,
    project_id: str | None = None,
    status_code: int = 403,
    code: str = "",
    method: str = "",
    path: str = "",
    view: str = "",
) -> None:
    """Publish an :class:`AccessDeniedEvent`; never turns the refusal itself into an error.

    Runs in a savepoint of its own: a subscriber failure is logged and leaves the caller's
    transaction usable.
    """
    event = AccessDeniedEvent(
        actor_id=str(actor_id) if actor_id else None,
        subject_id=str(resource_id) if resource_id else None,
        project_id=str(project_id) if project_id else None,
        resource=resource,
        status_code=status_code,
        code=code,
        method=method,
        path=path[:512],
        view=view,
    )
    try:
        with transaction.atomic():
            publish(event)
    except Exception:
        logger.exception("could not publish %s", AccessDeniedEvent.name)
