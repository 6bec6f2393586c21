"""What crosses the tasks boundary: job states, priorities, job snapshots, handler interface."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from typing import Any, Protocol


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DEAD = "dead"

    @property
    def is_active(self) -> bool:
        return self in (JobStatus.QUEUED, JobStatus.RUNNING)


class Priority(enum.IntEnum):
    LOW = 0
    NORMAL = 5
    HIGH = 9


class Stage(enum.StrEnum):
    QUEUED = "queued"
    LOADING = "loading"
    INFERENCE = "inference"
    POST_PROCESSING = "post-processing"
    SAVING = "saving"
    DONE = "done"


@dataclasses.dataclass(frozen=True)
class JobInfo:
    id: uuid.UUID
    kind: str
    status: JobStatus
    priority: int
    owner_id: uuid.UUID | None
    project_id: uuid.UUID | None
    image_id: uuid.UUID | None
    params: dict[str, Any]
    progress: int
    stage: str
    attempts: int
    max_attempts: int
    error: str
    queue_position: int | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    result_ref: str  # opaque id of what the job produced (e.g. a result version id)


class JobCancelled(Exception):
    """Raised inside a handler when the job was cancelled (checked at stage boundaries)."""


class PermanentJobError(Exception):
    """A failure retrying cannot fix (corrupt image, bad parameters): fail at once."""


class JobHandle(Protocol):
    """What a job handler receives: its job, and ways to report progress or stop."""

    job: JobInfo

    def progress(self, stage: str, percent: int) -> None:
        """Record stage and percent (0-100); raises JobCancelled if the job was cancelled."""

    def check_cancelled(self) -> None:
        """Raise JobCancelled if the job was cancelled meanwhile."""
