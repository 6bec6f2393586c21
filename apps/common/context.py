"""Request context that follows work across threads, events and job messages.

The request id, client address and user agent are captured by ``RequestIdMiddleware``,
carried into every Dramatiq message (``config.dramatiq.RequestContextMiddleware``) and
restored in the worker, so one id follows an upload to its result.
"""

from __future__ import annotations

import contextvars
import dataclasses
import uuid
from collections.abc import Iterator
from contextlib import contextmanager


@dataclasses.dataclass(frozen=True)
class RequestContext:
    """Who and where a piece of work comes from."""

    request_id: str = "-"
    client_ip: str | None = None
    user_agent: str | None = None
    actor_id: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> RequestContext:
        if not data:
            return cls()
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})


_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar(
    "spheroseg_request_context", default=RequestContext()  # noqa: B039 (frozen, immutable)
)


def current() -> RequestContext:
    """The context of the request or job being handled now."""
    return _current.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


@contextmanager
def bind(context: RequestContext) -> Iterator[RequestContext]:
    """Make ``context`` current for the duration of the block."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def set_current(context: RequestContext) -> contextvars.Token:
    return _current.set(context)


def reset(token: contextvars.Token) -> None:
    _current.reset(token)


def with_actor(actor_id: str | None) -> None:
    """Record the authenticated user on the current context (DRF authenticates late)."""
    ctx = _current.get()
    if ctx.actor_id != actor_id:
        _current.set(dataclasses.replace(ctx, actor_id=actor_id))
