"""Public api of the tasks context: submit and inspect background jobs, plug in handlers.

Everything takes and returns ids and contracts (``apps.tasks.contracts``). Call
``submit_job`` inside your own transaction: the broker message leaves only after commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from apps.tasks import selectors, services
from apps.tasks.contracts import JobHandle, JobInfo, JobNotFound, Priority

__all__ = [
    "active_jobs_for_project",
    "cancel_job",
    "get_job",
    "get_jobs",
    "latest_jobs_for_images",
    "register_handler",
    "replay_job",
    "submit_job",
]


def register_handler(
    kind: str,
    handler: Callable[[JobHandle], str | None],
    *,
    queue: str = "jobs",
    on_start: Callable[[JobInfo], None] | None = None,
) -> None:
    """Register the function that performs jobs of ``kind`` (call from ``AppConfig.ready``).

    ``on_start(job)``, if given, runs inside the transaction that claims the job (status
    ``running``): events it publishes commit with the claim, and an error there undoes it.

    The handler receives a :class:`JobHandle`; it reports progress with
    ``handle.progress(stage, percent)`` (raises ``JobCancelled`` when the job was cancelled),
    writes its result with ``handle.commit_result(fn)`` and may return an opaque
    ``result_ref``. ``PermanentJobError`` fails the job at once; ``JobCancelled`` ends it as
    cancelled; any other exception is transient (retried with backoff, then ``dead``).
    """
    services.register_handler(kind, handler, queue=queue, on_start=on_start)


def submit_job(
    *,
    kind: str,
    owner_id: uuid.UUID | None,
    project_id: uuid.UUID | None = None,
    image_id: uuid.UUID | None = None,
    params: dict[str, Any] | None = None,
    priority: int = Priority.NORMAL,
    dedupe_key: str | None = None,
    max_attempts: int | None = None,
) -> tuple[JobInfo, bool]:
    """Queue a job; ``(job, created)``. With ``dedupe_key``, an active (queued or running) job
    with the same key is returned instead (``created=False``). Raises ValueError for an
    unknown kind or a priority outside 0-9."""
    return services.submit_job(
        kind=kind,
        owner_id=owner_id,
        project_id=project_id,
        image_id=image_id,
        params=params,
        priority=priority,
        dedupe_key=dedupe_key,
        max_attempts=max_attempts,
    )


def get_job(*, job_id: uuid.UUID | str) -> JobInfo | None:
    return selectors.get_job(job_id)


def get_jobs(*, ids: Iterable[uuid.UUID | str]) -> dict[uuid.UUID, JobInfo]:
    return selectors.get_jobs(ids)


def latest_jobs_for_images(
    *, image_ids: Iterable[uuid.UUID | str], kind: str | None = None
) -> dict[uuid.UUID, JobInfo]:
    """The newest job of each image (images without one are absent); constant query count."""
    return selectors.latest_jobs_for_images(image_ids, kind)


def latest_jobs_for_project(*, project_id: uuid.UUID | str, kind: str | None = None) -> dict[uuid.UUID, JobInfo]:
    """The newest job of each image of a project (images without one are absent); one query."""
    return selectors.latest_jobs_for_project(project_id, kind)


def active_jobs_for_project(*, project_id: uuid.UUID | str) -> list[JobInfo]:
    """Queued and running jobs of a project, in the order they will run."""
    return selectors.active_jobs_for_project(project_id)


def cancel_job(*, job_id: uuid.UUID | str, actor_id: uuid.UUID | None) -> JobInfo:
    """Cancel a queued or running job (idempotent on a cancelled one). No permission check:
    callers check project access first. Raises JobNotFound or JobStateError (finished job)."""
    return services.cancel_job(job_id=job_id, actor_id=actor_id)


def replay_job(*, job_id: uuid.UUID | str, actor_id: uuid.UUID | None) -> JobInfo:
    """Queue a dead (or failed) job again with fresh attempts. Raises JobNotFound or
    JobStateError."""
    return services.replay_job(job_id=job_id, actor_id=actor_id)


def delete_jobs_for_project(*, project_id: uuid.UUID | str) -> int:
    return services.delete_project_jobs(project_id)


_ = JobNotFound  # re-exported for callers: ``from apps.tasks.contracts import JobNotFound``
