"""What crosses the tasks boundary: job states, priorities, job snapshots, handler interface."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from collections.abc import Callable
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
    """Raised inside a handler when the job was cancelled (checked at stage boundaries).

    Also raised when this worker lost the job (its lease expired and another worker took
    it over): either way the handler must stop and write nothing.
    """


class PermanentJobError(Exception):
    """A failure retrying cannot fix (corrupt image, bad parameters): fail at once."""


class JobNotFound(LookupError):
    """No such job, or the user may not see it (404: no existence leak)."""


class JobStateError(Exception):
    """The job is not in a state that allows the operation (e.g. replaying a running job): 409."""


#: Allowed status transitions, the one table every status write is checked against.
#: ``running -> queued`` is a retry (transient error) or a reaped lease; ``dead/failed ->
#: queued`` is a replay. Nothing leaves ``succeeded`` or ``cancelled``.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED}),
    JobStatus.RUNNING: frozenset(
        {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.DEAD, JobStatus.QUEUED}
    ),
    JobStatus.FAILED: frozenset({JobStatus.QUEUED}),
    JobStatus.DEAD: frozenset({JobStatus.QUEUED}),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


def allowed_sources(target: JobStatus) -> frozenset[JobStatus]:
    """The statuses from which ``target`` may be reached."""
    return frozenset(src for src, targets in TRANSITIONS.items() if target in targets)


@dataclasses.dataclass(frozen=True)
class JobStats:
    by_status: dict[str, int]
    by_priority: dict[str, dict[str, int]]  # priority -> status -> count
    mean_wait_seconds: float | None  # created -> started, over started jobs
    mean_run_seconds: float | None  # started -> finished, over finished jobs
    completion_rate: float | None  # succeeded / (succeeded + failed + dead + cancelled)
    total: int


class JobHandle(Protocol):
    """What a job handler receives: its job, and ways to report progress or stop."""

    job: JobInfo

    def progress(self, stage: str, percent: int) -> None:
        """Record stage and percent (0-100); raises JobCancelled if the job was cancelled."""

    def check_cancelled(self) -> None:
        """Raise JobCancelled if the job was cancelled meanwhile."""

    def commit_result(self, write: Callable[[], str | None]) -> str | None:
        """Run ``write`` in a transaction holding the job's row lock, only while this worker
        still owns the running job; the job becomes ``succeeded`` with the returned
        ``result_ref`` in the same transaction. Raises JobCancelled (nothing written)
        if the job was cancelled or taken over meanwhile."""
