"""What crosses the segmentation boundary: outlines, result versions, model cards."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from typing import Any


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
