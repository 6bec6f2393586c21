"""Reactions of the segmentation context to other contexts' events (subscribed by name)."""

from __future__ import annotations

import contextlib
import logging

from apps.common import events
from apps.segmentation import selectors, services
from apps.segmentation.contracts import SEGMENT_IMAGE_JOB
from apps.segmentation.events import RunCancelled, RunFailed

logger = logging.getLogger(__name__)


def on_image_deleted(event: events.Event) -> None:
    """Its results go; a queued or running segmentation of it is cancelled (nothing to write to)."""
    from apps.tasks import api as tasks_api
    from apps.tasks.contracts import JobNotFound, JobStateError

    services.delete_image_results(image_id=event.subject_id)
    job = tasks_api.latest_jobs_for_images(image_ids=[event.subject_id], kind=SEGMENT_IMAGE_JOB).get(
        selectors.as_uuid(event.subject_id)
    )
    if job is not None and job.status.is_active:
        with contextlib.suppress(JobNotFound, JobStateError):  # finished meanwhile
            tasks_api.cancel_job(job_id=job.id, actor_id=selectors.as_uuid(event.actor_id))


def on_project_deleted(event: events.Event) -> None:
    services.delete_project_results(project_id=event.project_id or event.subject_id)


def _model_of(job_id) -> tuple[str, str]:
    from apps.tasks import api as tasks_api

    job = tasks_api.get_job(job_id=job_id) if job_id else None
    params = (job.params if job else None) or {}
    return str(params.get("model", "")), str(params.get("model_version", ""))


def on_job_ended(event: events.Event) -> None:
    """Translate the tasks context's failed / dead / cancelled events of our job kind."""
    if getattr(event, "kind", "") != SEGMENT_IMAGE_JOB:
        return
    model_name, model_version = _model_of(event.subject_id)
    common = {
        "subject_id": event.subject_id,
        "actor_id": event.actor_id,
        "project_id": event.project_id,
        "image_id": str(getattr(event, "image_id", "") or ""),
        "model_name": model_name,
        "model_version": model_version,
        "request": event.request,
    }
    if event.name == "tasks.job.cancelled":
        events.publish(RunCancelled(**common))
    else:
        status = "dead" if event.name == "tasks.job.dead" else "failed"
        events.publish(RunFailed(**common, status=status, error=str(getattr(event, "error", ""))))


def connect() -> None:
    from apps.segmentation import jobs
    from apps.tasks import api as tasks_api

    tasks_api.register_handler(SEGMENT_IMAGE_JOB, jobs.segment_image, on_start=jobs.announce_start)
    from apps.segmentation.exports import service as exports

    tasks_api.register_handler(exports.EXPORT_JOB, exports.run_export_job)
    events.subscribe("images.image.deleted", on_image_deleted)
    events.subscribe("images.project.deleted", on_project_deleted)
    for name in ("tasks.job.failed", "tasks.job.dead", "tasks.job.cancelled"):
        events.subscribe(name, on_job_ended)
