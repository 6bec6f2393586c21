"""The per-process supervisor thread of every worker (``rundramatiq`` process or embedded).

Each ``supervisor_interval()`` seconds (a third of JOB_LEASE_SECONDS) it:

1. renews the leases of the jobs this process is running (a killed process stops renewing);
2. writes this worker's heartbeat row (``/health/`` lists workers and when they were seen);
3. re-queues running jobs whose lease expired (their worker died): retried with backoff,
   or ``dead`` after the last attempt;
4. re-sends wake-up messages for queued jobs that have none waiting in the broker
   (a message lost to a broker restart or never sent during an outage).

Every step is a compare-and-set, so any number of supervisors may run at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading

from django.db import close_old_connections
from django.utils import timezone

from apps.tasks import services
from apps.tasks.models import WorkerHeartbeat

logger = logging.getLogger(__name__)

_thread: threading.Thread | None = None
_stop = threading.Event()
_lock = threading.Lock()


def run_once(*, started_at: dt.datetime | None = None) -> dict[str, int]:
    from django.conf import settings

    from config.dramatiq import broker_kind

    started_at = started_at or timezone.now()
    renewed = services.renew_leases(services.held_tokens())
    WorkerHeartbeat.objects.update_or_create(
        worker_id=services.worker_id(),
        defaults={
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "broker": broker_kind(settings.DRAMATIQ["BROKER_URL"]),
            "queues": sorted(services.known_queues()),
            "started_at": started_at,
            "seen_at": timezone.now(),
            "running_jobs": len(services.held_tokens()),
        },
    )
    reaped = services.reap_expired_leases()
    resent = sum(services.resend_missing(queue) for queue in sorted(services.known_queues()))
    # Forget workers silent for an hour (their rows only clutter /health/).
    WorkerHeartbeat.objects.filter(seen_at__lt=timezone.now() - dt.timedelta(hours=1)).delete()
    return {"renewed": renewed, "reaped": reaped, "resent": resent}


def resend_after_restart() -> int:
    """Embedded mode: the in-memory broker lost every message with the previous process, so
    each queued job gets a wake-up now (not only after the grace period)."""
    import dramatiq

    if type(dramatiq.get_broker()).__name__ != "StubBroker":
        return 0
    return sum(services.resend_missing(q, grace_seconds=0) for q in sorted(services.known_queues()))


def _loop() -> None:
    started_at = timezone.now()
    try:
        resend_after_restart()
    except Exception:
        logger.exception("re-sending queued jobs after start-up failed")
    while not _stop.is_set():
        try:
            run_once(started_at=started_at)
        except Exception:
            logger.exception("job supervisor pass failed")
        finally:
            close_old_connections()
        _stop.wait(services.supervisor_interval())
    try:
        WorkerHeartbeat.objects.filter(worker_id=services.worker_id()).delete()
    except Exception:
        logger.debug("could not remove the heartbeat row", exc_info=True)
    finally:
        close_old_connections()


def start() -> None:
    """Start the supervisor thread of this process (idempotent)."""
    global _thread
    with _lock:
        if _thread is not None and _thread.is_alive():
            return
        _stop.clear()
        _thread = threading.Thread(target=_loop, name="tasks-supervisor", daemon=True)
        _thread.start()
        logger.info("job supervisor started (worker %s)", services.worker_id())


def stop(timeout: float = 5.0) -> None:
    global _thread
    with _lock:
        thread, _thread = _thread, None
    if thread is not None:
        _stop.set()
        thread.join(timeout)
