"""Public events of the segmentation context.

Every event carries ``actor_id`` (who asked; ``None`` for the system), ``subject_id`` and
``project_id`` as strings. Run events have the job as subject (``image_id`` in the payload);
result events have the image as subject. Published inside the transaction of the change.
"""

from __future__ import annotations

import dataclasses

from apps.common.events import Event


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunRequested(Event):
    """A segmentation job was queued (``subject_id`` = job id)."""

    name = "segmentation.run.requested"
    subject_type = "job"

    image_id: str = ""
    model_name: str = ""
    model_version: str = ""
    params: dict = dataclasses.field(default_factory=dict)
    priority: int = 5


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    """A worker began an attempt of a segmentation job."""

    name = "segmentation.run.started"
    subject_type = "job"

    image_id: str = ""
    model_name: str = ""
    model_version: str = ""
    attempt: int = 1


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunSucceeded(Event):
    """The job stored a result version."""

    name = "segmentation.run.succeeded"
    subject_type = "job"

    image_id: str = ""
    model_name: str = ""
    model_version: str = ""
    result_version: int = 0
    object_count: int = 0
    seconds: float = 0.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunFailed(Event):
    """The job failed for good (``dead`` after its last attempt, or a permanent error)."""

    name = "segmentation.run.failed"
    subject_type = "job"
    outcome: str = "failed"

    image_id: str = ""
    model_name: str = ""
    model_version: str = ""
    status: str = "failed"
    error: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunCancelled(Event):
    name = "segmentation.run.cancelled"
    subject_type = "job"

    image_id: str = ""
    model_name: str = ""
    model_version: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResultEdited(Event):
    """Edited outlines were saved as a new version (``subject_id`` = image id)."""

    name = "segmentation.result.edited"
    subject_type = "image"

    result_version: int = 0
    base_version: int | None = None
    object_count: int = 0
    model_name: str = ""
    model_version: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResultRestored(Event):
    """An older version was restored as a new version (``subject_id`` = image id)."""

    name = "segmentation.result.restored"
    subject_type = "image"

    result_version: int = 0
    restored_version: int = 0
    object_count: int = 0
    model_name: str = ""
    model_version: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExportCreated(Event):
    """An export was built (``subject_id`` = project id; ``job_id`` set for background exports)."""

    name = "segmentation.export.created"
    subject_type = "project"

    format: str = ""
    image_count: int = 0
    object_count: int = 0
    result_version: int | None = None
    job_id: str = ""
