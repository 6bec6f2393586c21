"""Push job changes to the project's websocket group (``project.<id>``), from any thread.

* ``InMemoryChannelLayer`` (embedded): consumers live in the server's event loop, so messages
  are scheduled onto that loop (remembered when a consumer connects); with no consumer in
  this process there is nobody to tell.
* Any other layer (``RedisPubSubChannelLayer``, distributed): one private event loop thread
  per process sends, so a worker thread never blocks on Redis and no loop is created per
  message (channels-redis keeps its connections per loop).

The layer is at-most-once: clients get a fresh snapshot on (re)connect.

Every message sent to the group carries ``sent_at`` (ISO 8601 UTC with microseconds), taken
when this process publishes it, so clients and ``bench_pipeline`` can measure delivery latency.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer

from apps.tasks.contracts import JobInfo, JobStatus

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_consumer_loop: asyncio.AbstractEventLoop | None = None
_sender_loop: asyncio.AbstractEventLoop | None = None


def group_name(project_id: Any) -> str:
    return f"project.{project_id}"


def job_message(info: JobInfo) -> dict[str, Any]:
    return {
        "type": "job",
        "job_id": str(info.id),
        "image_id": str(info.image_id) if info.image_id else None,
        "kind": info.kind,
        "status": str(info.status),
        "progress": info.progress,
        "stage": info.stage,
        "queue_position": info.queue_position,
        "error": info.error,
        "attempts": info.attempts,
        "result_ref": info.result_ref,
    }


def now_iso() -> str:
    """The current UTC time as ISO 8601 with microseconds and a ``Z`` suffix."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def remember_consumer_loop(loop: asyncio.AbstractEventLoop) -> None:
    global _consumer_loop
    _consumer_loop = loop


def _private_loop() -> asyncio.AbstractEventLoop:
    global _sender_loop
    with _lock:
        if _sender_loop is None or _sender_loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="tasks-broadcast", daemon=True).start()
            _sender_loop = loop
        return _sender_loop


def _send(project_id: Any, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    if isinstance(layer, InMemoryChannelLayer):
        loop = _consumer_loop
        if loop is None or loop.is_closed() or not loop.is_running():
            return
    else:
        loop = _private_loop()
    payload = {**payload, "sent_at": now_iso()}
    coro = layer.group_send(group_name(project_id), {"type": "job.update", "job": payload})
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        loop.create_task(coro)
        return
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    future.add_done_callback(_log_failure)


def _log_failure(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.warning("job update not delivered to the channel layer: %s", future.exception())


def job_changed(info: JobInfo) -> None:
    if info.project_id is not None:
        _send(info.project_id, job_message(info))


def progress(info: JobInfo, *, stage: str, progress: int) -> None:
    if info.project_id is None:
        return
    payload = job_message(info)
    payload.update(status=str(JobStatus.RUNNING), stage=stage, progress=progress, queue_position=None)
    _send(info.project_id, payload)


def positions(by_project: dict) -> None:
    """One ``{"type": "positions", "positions": {job_id: position}}`` message per project
    whose queued jobs moved (a job ahead started, was cancelled or was overtaken)."""
    for project_id, jobs in by_project.items():
        _send(project_id, {"type": "positions", "positions": jobs})
