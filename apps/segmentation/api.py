"""Public api of the segmentation context: keyword-only functions, ids and contracts in and out.

Reads (no permission check: callers checked access to the project or image already):

* :func:`get_image_states` / :func:`image_ids_with_status`: the segmentation status of images,
  derived from their jobs and results (never stored), constant number of queries;
* :func:`get_latest_results`, :func:`get_result_version`, :func:`list_versions`;
* :func:`list_models`: the model registry (synced from the engine on first use).

Writes take the acting user's id and check permission through ``apps.images.api``; they raise
``ImageNotFound`` / ``ProjectNotFound`` (404), ``AccessDenied`` (403) or a
:class:`~apps.segmentation.contracts.SegmentationError` (``.status_code``, ``.code``, ``.detail``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from apps.images import api as images_api
from apps.segmentation import selectors, services
from apps.segmentation import status as derived_status
from apps.segmentation.contracts import (
    SEGMENT_IMAGE_JOB,
    ImageSegmentationState,
    ImageStatus,
    ModelInfo,
    ResultVersion,
    VersionSummary,
)
from apps.tasks.contracts import JobInfo

__all__ = [
    "SEGMENT_IMAGE_JOB",
    "get_image_states",
    "get_latest_results",
    "get_result_version",
    "image_ids_with_status",
    "project_image_statuses",
    "list_models",
    "list_versions",
    "measure_polygons",
    "request_project_segmentation",
    "request_segmentation",
    "restore_version",
    "save_edit",
]


# --------------------------------------------------------------------------- reads


def get_image_states(*, image_ids: Iterable[uuid.UUID | str]) -> dict[uuid.UUID, ImageSegmentationState]:
    """The derived segmentation state of each image (every valid id gets an entry)."""
    return derived_status.image_states(image_ids)


def project_image_statuses(*, project_id: uuid.UUID | str) -> dict[uuid.UUID, ImageStatus]:
    """Derived status of each of the project's images that has a segmentation job or result;
    an image that is absent is ``new``. For status filters over large projects."""
    return derived_status.project_statuses(project_id)


def image_ids_with_status(*, project_id: uuid.UUID | str, status: ImageStatus | str) -> list[uuid.UUID]:
    """Ids of the project's images whose derived status is ``status``."""
    wanted = ImageStatus(status)
    statuses = project_image_statuses(project_id=project_id)
    ids = images_api.list_project_image_ids(project_id=project_id)
    return [i for i in ids if statuses.get(i, ImageStatus.NEW) == wanted]


def get_latest_results(*, image_ids: Iterable[uuid.UUID | str]) -> dict[uuid.UUID, ResultVersion]:
    """The latest result version of each image that has one (one query)."""
    return selectors.latest_results(image_ids)


def get_result_version(*, image_id: uuid.UUID | str, version: int | None = None) -> ResultVersion | None:
    """One version (the latest when ``version`` is None), or None."""
    return selectors.result_version(image_id, version)


def list_versions(*, image_id: uuid.UUID | str) -> list[VersionSummary]:
    """The image's history, newest first (no polygons)."""
    return selectors.version_history(image_id)


def list_models(*, include_disabled: bool = False) -> list[ModelInfo]:
    """The model registry (default first), synced from the engine on first use."""
    services.sync_models()
    from apps.segmentation.models import SegmentationModel

    qs = SegmentationModel.objects.filter(available=True)
    if not include_disabled:
        qs = qs.filter(enabled=True)
    return [selectors.model_info(m) for m in qs]


def measure_polygons(*, polygons: list[dict], pixel_size_um: float | None = None) -> list[dict]:
    """Server-side metrics of outlines ``{"exterior", "holes"}`` (the one implementation, in ml/)."""
    return [p["metrics"] for p in services.measure(polygons, pixel_size_um=pixel_size_um)]


# --------------------------------------------------------------------------- writes


def request_segmentation(
    *,
    user_id: uuid.UUID | str,
    image_ids: Iterable[uuid.UUID | str],
    model: str | None = None,
    threshold: float | None = None,
    priority: int | str | None = None,
    min_area_px: int | None = None,
) -> list[tuple[JobInfo, bool]]:
    """Queue segmentation (EDIT access); ``(job, created)`` per image, deduplicated while active."""
    return services.request_segmentation(
        user_id=user_id, image_ids=image_ids, model=model, threshold=threshold, priority=priority, min_area_px=min_area_px
    )


def request_project_segmentation(
    *,
    user_id: uuid.UUID | str,
    project_id: uuid.UUID | str,
    image_ids: Iterable[uuid.UUID | str] | None = None,
    model: str | None = None,
    threshold: float | None = None,
    priority: int | str | None = None,
    min_area_px: int | None = None,
) -> list[tuple[JobInfo, bool]]:
    """Segment all (or the listed) images of a project (EDIT access)."""
    return services.request_project_segmentation(
        user_id=user_id,
        project_id=project_id,
        image_ids=image_ids,
        model=model,
        threshold=threshold,
        priority=priority,
        min_area_px=min_area_px,
    )


def save_edit(
    *, user_id: uuid.UUID | str, image_id: uuid.UUID | str, base_version: int | None, polygons: list[dict]
) -> ResultVersion:
    """Save edited outlines as a new version (metrics recomputed here); ``StaleVersion`` (409)."""
    return services.save_edit(user_id=user_id, image_id=image_id, base_version=base_version, polygons=polygons)


def restore_version(*, user_id: uuid.UUID | str, image_id: uuid.UUID | str, version: int) -> ResultVersion:
    """Restore ``version`` as a new latest version (EDIT access)."""
    return services.restore_version(user_id=user_id, image_id=image_id, version=version)
