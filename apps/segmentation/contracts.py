"""What crosses the segmentation boundary: outlines, result versions, model cards, errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from typing import Any

#: The job kind this context registers with the tasks context.
SEGMENT_IMAGE_JOB = "segmentation.segment_image"


class VersionSource(enum.StrEnum):
    MODEL = "model"  # produced by a segmentation run
    EDIT = "edit"  # saved from the editor / PUT
    RESTORE = "restore"  # a copy of an older version


@dataclasses.dataclass(frozen=True)
class Polygon:
    """One object: exterior ring and holes in image pixels, confidence, metrics (px and µm)."""

    exterior: list[list[float]]
    holes: list[list[list[float]]]
    confidence: float | None
    metrics: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class ResultVersion:
    id: uuid.UUID
    image_id: uuid.UUID
    project_id: uuid.UUID
    version: int  # 1, 2, 3 ... per image
    source: VersionSource
    model_name: str
    model_version: str
    params: dict[str, Any]
    polygons: list[Polygon]
    author_id: uuid.UUID | None
    job_id: uuid.UUID | None
    created_at: dt.datetime
    based_on: int | None
    timings: dict[str, float]
    object_count: int = 0
    width: int = 0  # image size the polygons refer to
    height: int = 0
    pixel_size_um: float | None = None  # used for the µm metrics


@dataclasses.dataclass(frozen=True)
class VersionSummary:
    """One entry of an image's history (no polygons: cheap to list)."""

    image_id: uuid.UUID
    version: int
    source: VersionSource
    model_name: str
    model_version: str
    object_count: int
    author_id: uuid.UUID | None
    job_id: uuid.UUID | None
    based_on: int | None
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    kind: str
    sha256: str | None
    parameters: int | None
    description: str
    metrics: dict[str, Any]
    default: bool
    enabled: bool = True
    defaults: dict[str, Any] = dataclasses.field(default_factory=dict)  # default run parameters


class ImageStatus(enum.StrEnum):
    """An image's segmentation status, derived from its jobs and results (never stored)."""

    NEW = "new"  # never segmented, nothing queued
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"  # has a result and no active job
    FAILED = "failed"  # latest job failed/dead and no newer result


@dataclasses.dataclass(frozen=True)
class ImageSegmentationState:
    image_id: uuid.UUID
    status: ImageStatus
    progress: int  # 0-100 for the active job, 100 when done
    stage: str
    queue_position: int | None
    error: str  # reason of the latest failure, if any
    job_id: uuid.UUID | None  # the active or latest job
    latest_version: int | None  # latest result version number
    object_count: int | None


# --------------------------------------------------------------------------- errors


class SegmentationError(ValueError):
    """A request the segmentation context refuses for a reason the caller can fix."""

    code = "invalid"
    status_code = 400

    def __init__(self, detail: str, *, errors: dict[str, Any] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or {}


class ModelNotFound(SegmentationError):
    code = "unknown_model"
    status_code = 400


class InvalidParameters(SegmentationError):
    code = "invalid"
    status_code = 400


class InvalidPolygons(SegmentationError):
    code = "invalid_polygons"
    status_code = 400


class ResultNotFound(SegmentationError, LookupError):
    code = "not_found"
    status_code = 404


class StaleVersion(SegmentationError):
    """The edit was based on a version that is no longer the latest (HTTP 409)."""

    code = "stale_version"
    status_code = 409

    def __init__(self, detail: str, *, latest_version: int | None = None, base_version: int | None = None):
        super().__init__(detail)
        self.latest_version = latest_version
        self.base_version = base_version
