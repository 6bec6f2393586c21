"""Dramatiq wiring: the broker chosen by BROKER_URL, and the project's middleware.

* ``stub://`` (embedded mode): an in-process StubBroker; worker threads run inside the
  server process (``apps.common.workers``).
* ``redis://...``: RedisBroker. ``amqp://...``: RabbitmqBroker.

``setup_broker()`` is called from ``apps.common.apps.CommonConfig.ready`` before any actor
module is imported, so every process (web, worker, manage.py) shares one configuration.
"""

from __future__ import annotations

import logging
import threading
import time

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Middleware,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from apps.common import context

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_configured_url: str | None = None


class DbConnectionMiddleware(Middleware):
    """Closes stale database connections around every message (as Django does per request)."""

    def _close(self, *args, **kwargs):
        from django.db import close_old_connections

        close_old_connections()

    before_process_message = _close
    after_process_message = _close
    after_skip_message = _close
    before_worker_thread_shutdown = _close

    def after_worker_thread_boot(self, broker, thread):
        self._close()


class RequestContextMiddleware(Middleware):
    """Carries the request id, client address and user agent from enqueue to the worker."""

    def __init__(self):
        self._tokens = threading.local()

    def before_enqueue(self, broker, message, delay):
        message.options.setdefault("request_context", context.current().as_dict())

    def before_process_message(self, broker, message):
        ctx = context.RequestContext.from_dict(message.options.get("request_context"))
        self._tokens.token = context.set_current(ctx)

    def _reset(self, broker, message, *args, **kwargs):
        token = getattr(self._tokens, "token", None)
        if token is not None:
            context.reset(token)
            self._tokens.token = None

    after_process_message = _reset
    after_skip_message = _reset


class WorkerStartupHooks(Middleware):
    """Runs ``apps.common.workers`` start-up (and graceful shutdown) hooks in each
    ``rundramatiq`` worker process (embedded workers run them from ``apps.common.workers``).

    Bound to ``process_boot``, which only the dramatiq CLI emits: a ``dramatiq.Worker``
    started inside another process (a test, a shell) runs no hooks.
    """

    def __init__(self):
        self.booted = False

    def after_process_boot(self, broker):
        from apps.common.workers import run_startup_hooks

        self.booted = True
        threading.Thread(target=run_startup_hooks, name="worker-startup-hooks", daemon=True).start()

    def before_worker_shutdown(self, broker, worker):
        if self.booted:
            from apps.common.workers import run_shutdown_hooks

            run_shutdown_hooks()


def _prompt_redis_broker_class() -> type:
    """RedisBroker whose consumers pick up the next message within ~10 ms of a job's end.

    Dramatiq's Redis consumer, once its prefetched messages are all being processed, keeps
    sleeping with a growing backoff (up to ``worker_timeout``) although it fetches nothing;
    the next message then waits for the rest of that sleep. Here a busy consumer sleeps in
    short steps instead (no Redis call), and an idle one polls as dramatiq does.
    """
    from dramatiq.brokers.redis import RedisBroker, _RedisConsumer

    class PromptRedisConsumer(_RedisConsumer):
        busy_sleep_seconds = 0.01

        def __next__(self):
            if not self.message_cache and self.outstanding_message_count >= self.prefetch:
                time.sleep(self.busy_sleep_seconds)
                return None
            return super().__next__()

    class PromptRedisBroker(RedisBroker):
        @property
        def consumer_class(self):
            return PromptRedisConsumer

    return PromptRedisBroker


def build_broker(url: str) -> dramatiq.Broker:
    """Create the broker named by ``url`` with the project's middleware."""
    middleware = [
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(),
        CurrentMessage(),
        DbConnectionMiddleware(),
        RequestContextMiddleware(),
    ]
    if url.startswith("stub"):
        broker: dramatiq.Broker = StubBroker(middleware=middleware)
        broker.emit_after("process_boot")
    elif url.startswith(("redis://", "rediss://", "unix://")):
        broker = _prompt_redis_broker_class()(url=url, middleware=[*middleware, WorkerStartupHooks()])
    elif url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url, middleware=[*middleware, WorkerStartupHooks()], max_priority=10)
    else:
        raise ValueError(f"unsupported BROKER_URL scheme: {url.split(':', 1)[0]!r}")
    return broker


def setup_broker() -> dramatiq.Broker:
    """Configure the global broker once per process from settings (idempotent)."""
    global _configured_url
    from django.conf import settings

    url = settings.DRAMATIQ["BROKER_URL"]
    with _lock:
        if _configured_url == url:
            return dramatiq.get_broker()
        broker = build_broker(url)
        dramatiq.set_broker(broker)
        _configured_url = url
        return broker


def broker_kind(url: str) -> str:
    """``stub``, ``redis`` or ``rabbitmq`` for a BROKER_URL."""
    if url.startswith("stub"):
        return "stub"
    if url.startswith(("redis://", "rediss://", "unix://")):
        return "redis"
    return "rabbitmq"
