"""Embedded mode: Dramatiq worker threads inside the server process.

``start_embedded_worker()`` is called by ``config.asgi`` when EMBEDDED_WORKERS is on
(the default with the stub broker). Contexts register start-up hooks (for example the
tasks context re-sends jobs that were queued before a restart).
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable

import dramatiq

logger = logging.getLogger(__name__)
_worker: dramatiq.Worker | None = None
_lock = threading.Lock()
_startup_hooks: list[Callable[[], None]] = []


def register_startup_hook(hook: Callable[[], None]) -> None:
    """Run ``hook`` whenever workers start in this process (embedded or rundramatiq)."""
    if hook not in _startup_hooks:
        _startup_hooks.append(hook)


_shutdown_hooks: list[Callable[[], None]] = []


def register_shutdown_hook(hook: Callable[[], None]) -> None:
    """Run ``hook`` when this process's workers stop gracefully (e.g. remove a heartbeat)."""
    if hook not in _shutdown_hooks:
        _shutdown_hooks.append(hook)


def run_shutdown_hooks() -> None:
    for hook in list(_shutdown_hooks):
        try:
            hook()
        except Exception:
            logger.exception("worker shutdown hook %s failed", getattr(hook, "__qualname__", hook))


def run_startup_hooks() -> None:
    for hook in list(_startup_hooks):
        try:
            hook()
        except Exception:
            logger.exception("worker start-up hook %s failed", getattr(hook, "__qualname__", hook))


def start_embedded_worker(threads: int = 2) -> dramatiq.Worker:
    """Start worker threads on the current broker, once per process."""
    global _worker
    with _lock:
        if _worker is None:
            broker = dramatiq.get_broker()
            _worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
            _worker.start()
            atexit.register(stop_embedded_worker)
            logger.info("embedded Dramatiq worker started with %d threads", threads)
            threading.Thread(target=run_startup_hooks, name="worker-startup-hooks", daemon=True).start()
        return _worker


def stop_embedded_worker() -> None:
    global _worker
    with _lock:
        if _worker is not None:
            _worker.stop(timeout=5000)
            _worker = None
            run_shutdown_hooks()
