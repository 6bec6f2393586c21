"""Public events of the tasks context.

Every event carries ``subject_id`` (the job id), ``actor_id`` (the user who asked, or the job
owner for worker-driven transitions), ``project_id``, and the job's ``kind`` and ``image_id``.
Published inside the transaction of the status change.
"""

from __future__ import annotations

import dataclasses

from apps.common.events import Event


@dataclasses.dataclass(frozen=True, kw_only=True)
class _JobEvent(Event):
    subject_type = "job"

    kind: str = ""
    image_id: str | None = None
    attempt: int = 0


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobQueued(_JobEvent):
    name = "tasks.job.queued"

    priority: int = 5


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobStarted(_JobEvent):
    name = "tasks.job.started"

    worker_id: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobSucceeded(_JobEvent):
    name = "tasks.job.succeeded"

    result_ref: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobFailed(_JobEvent):
    """Failed for good (a permanent error such as a corrupt image)."""

    name = "tasks.job.failed"

    error: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobRetrying(_JobEvent):
    """A transient error (or a lost worker): queued again after a backoff."""

    name = "tasks.job.retrying"

    error: str = ""
    delay_seconds: float = 0.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobCancelled(_JobEvent):
    name = "tasks.job.cancelled"


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobDead(_JobEvent):
    """The last attempt failed: kept for inspection and replay."""

    name = "tasks.job.dead"

    error: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobReplayed(_JobEvent):
    name = "tasks.job.replayed"
