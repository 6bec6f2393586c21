"""Health endpoints built on django-health-check.

* ``/health/live``: the process answers (no dependency touched).
* ``/health/ready``: database, cache, broker and storage reachable, else 503.
* ``/health/``: JSON per dependency with status and latency, plus what contexts report
  (worker heartbeats and queue depth come from the tasks context).

Contexts add checks with :func:`register_check` and detail sections with
:func:`register_detail` from their ``AppConfig.ready``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from health_check.base import HealthCheck
from health_check.checks import Cache, Database, Storage
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView

from config.dramatiq import broker_kind

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Broker(HealthCheck):
    """The message broker named by BROKER_URL answers (Redis PING or an AMQP handshake)."""

    timeout: datetime.timedelta = dataclasses.field(default=datetime.timedelta(seconds=3), repr=False)

    def run(self) -> None:
        url = settings.DRAMATIQ["BROKER_URL"]
        kind = broker_kind(url)
        try:
            if kind == "redis":
                import redis

                client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
                try:
                    client.ping()
                finally:
                    client.close()
            elif kind == "rabbitmq":
                import pika

                params = pika.URLParameters(url)
                params.socket_timeout = 2
                params.blocked_connection_timeout = 2
                params.connection_attempts = 1
                pika.BlockingConnection(params).close()
        except Exception as exc:  # any client error means "not reachable"
            raise ServiceUnavailable(f"{kind} broker unreachable") from exc


_checks: list[type[HealthCheck] | HealthCheck] = [Database, Cache, Broker, Storage]
_details: dict[str, Callable[[], Any]] = {}


def register_check(check: type[HealthCheck] | HealthCheck) -> None:
    if check not in _checks:
        _checks.append(check)


def register_detail(name: str, provider: Callable[[], Any]) -> None:
    """Add a section to ``/health/`` (e.g. worker heartbeats, queue depth)."""
    _details[name] = provider


async def _run_checks():
    checks = [c() if isinstance(c, type) else c for c in _checks]
    return await asyncio.gather(*(check.get_result() for check in checks))


def _check_name(check: HealthCheck) -> str:
    return type(check).__name__.lower()


class ReadyView(HealthCheckView):
    """200 when every dependency answers, 503 otherwise."""

    async def get(self, request, *args, **kwargs):
        results = await _run_checks()
        failed = {_check_name(r.check): str(r.error) for r in results if r.error}
        if failed:
            return JsonResponse({"status": "unavailable", "failed": failed}, status=503)
        return JsonResponse({"status": "ok"})


class DetailView(HealthCheckView):
    """Per-dependency status and latency, plus context-provided details."""

    async def get(self, request, *args, **kwargs):
        results = await _run_checks()
        checks = {
            _check_name(r.check): {
                "status": "error" if r.error else "ok",
                "latency_ms": round(r.time_taken * 1000, 2),
                **({"error": str(r.error)} if r.error else {}),
            }
            for r in results
        }
        body: dict[str, Any] = {
            "status": "unavailable" if any(r.error for r in results) else "ok",
            "mode": "distributed" if settings.DRAMATIQ["BROKER_URL"] != "stub://" else "embedded",
            "checks": checks,
        }
        for name, provider in _details.items():
            try:
                body[name] = await asyncio.to_thread(provider)
            except Exception:
                logger.exception("health detail %s failed", name)
                body[name] = {"status": "error"}
        return JsonResponse(body, status=503 if body["status"] != "ok" else 200)


@never_cache
def live(request):
    return JsonResponse({"status": "ok"})
