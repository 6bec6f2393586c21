"""An image's segmentation status, derived from its jobs (tasks context) and results.

Never stored: one place computes it from the latest segmentation job of each image and the
latest result version, in a constant number of queries for any number of images.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from apps.segmentation import selectors
from apps.segmentation.contracts import (
    SEGMENT_IMAGE_JOB,
    ImageSegmentationState,
    ImageStatus,
    VersionSummary,
)
from apps.tasks import api as tasks_api
from apps.tasks.contracts import JobInfo, JobStatus


def derive(image_id: uuid.UUID, job: JobInfo | None, latest: VersionSummary | None) -> ImageSegmentationState:
    version = latest.version if latest else None
    count = latest.object_count if latest else None
    if job is not None and job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        return ImageSegmentationState(
            image_id=image_id,
            status=ImageStatus.QUEUED if job.status == JobStatus.QUEUED else ImageStatus.RUNNING,
            progress=job.progress,
            stage=job.stage,
            queue_position=job.queue_position,
            error="",
            job_id=job.id,
            latest_version=version,
            object_count=count,
        )
    failed = job is not None and job.status in (JobStatus.FAILED, JobStatus.DEAD)
    if failed and (latest is None or latest.created_at < (job.finished_at or job.created_at)):
        return ImageSegmentationState(
            image_id=image_id,
            status=ImageStatus.FAILED,
            progress=job.progress,
            stage=job.stage,
            queue_position=None,
            error=job.error or "Segmentation failed.",
            job_id=job.id,
            latest_version=version,
            object_count=count,
        )
    if latest is not None:
        return ImageSegmentationState(
            image_id=image_id,
            status=ImageStatus.DONE,
            progress=100,
            stage="done",
            queue_position=None,
            error="",
            job_id=job.id if job else None,
            latest_version=version,
            object_count=count,
        )
    return ImageSegmentationState(
        image_id=image_id,
        status=ImageStatus.NEW,
        progress=0,
        stage="",
        queue_position=None,
        error="",
        job_id=job.id if job else None,
        latest_version=None,
        object_count=None,
    )


def image_states(image_ids: Iterable) -> dict[uuid.UUID, ImageSegmentationState]:
    ids = selectors.uuids(image_ids)
    if not ids:
        return {}
    jobs = tasks_api.latest_jobs_for_images(image_ids=ids, kind=SEGMENT_IMAGE_JOB)
    latest = selectors.latest_summaries(ids)
    return {i: derive(i, jobs.get(i), latest.get(i)) for i in ids}


def project_statuses(project_id) -> dict[uuid.UUID, ImageStatus]:
    """The status of every image of a project that has a segmentation job or result (an image
    absent from the answer is ``new``). Two queries with one parameter each, whatever the
    project's size."""
    jobs = tasks_api.latest_jobs_for_project(project_id=project_id, kind=SEGMENT_IMAGE_JOB)
    latest = selectors.latest_summaries_for_project(project_id)
    return {i: derive(i, jobs.get(i), latest.get(i)).status for i in jobs.keys() | latest.keys()}
