"""Reads of the segmentation context. Every batch read costs a constant number of queries."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db.models import OuterRef, QuerySet, Subquery

from apps.segmentation.contracts import (
    ModelInfo,
    Polygon,
    ResultVersion,
    VersionSource,
    VersionSummary,
)
from apps.segmentation.models import ResultVersion as ResultVersionRow
from apps.segmentation.models import SegmentationModel


def as_uuid(value) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def uuids(values: Iterable) -> list[uuid.UUID]:
    out = []
    for v in values:
        u = as_uuid(v)
        if u is not None:
            out.append(u)
    return list(dict.fromkeys(out))


def polygon(data: dict) -> Polygon:
    return Polygon(
        exterior=data.get("exterior") or [],
        holes=data.get("holes") or [],
        confidence=data.get("confidence"),
        metrics=data.get("metrics") or {},
    )


def to_result(row: ResultVersionRow) -> ResultVersion:
    return ResultVersion(
        id=row.id,
        image_id=row.image_id,
        project_id=row.project_id,
        version=row.version,
        source=VersionSource(row.source),
        model_name=row.model_name,
        model_version=row.model_version,
        params=dict(row.params or {}),
        polygons=[polygon(p) for p in row.polygons or []],
        author_id=row.author_id,
        job_id=row.job_id,
        created_at=row.created_at,
        based_on=row.based_on,
        timings=dict(row.timings or {}),
        object_count=row.object_count,
        width=row.width,
        height=row.height,
        pixel_size_um=row.pixel_size_um,
    )


def to_summary(row: ResultVersionRow) -> VersionSummary:
    return VersionSummary(
        image_id=row.image_id,
        version=row.version,
        source=VersionSource(row.source),
        model_name=row.model_name,
        model_version=row.model_version,
        object_count=row.object_count,
        author_id=row.author_id,
        job_id=row.job_id,
        based_on=row.based_on,
        created_at=row.created_at,
    )


def latest_rows(image_ids: Iterable) -> QuerySet[ResultVersionRow]:
    """The latest version row of each image (one query, correlated subquery)."""
    ids = uuids(image_ids)
    newest = ResultVersionRow.objects.filter(image_id=OuterRef("image_id")).order_by("-version").values("version")[:1]
    return ResultVersionRow.objects.filter(image_id__in=ids, version=Subquery(newest))


def latest_results(image_ids: Iterable) -> dict[uuid.UUID, ResultVersion]:
    ids = uuids(image_ids)
    if not ids:
        return {}
    return {row.image_id: to_result(row) for row in latest_rows(ids)}


def latest_summaries(image_ids: Iterable) -> dict[uuid.UUID, VersionSummary]:
    """Like :func:`latest_results` without loading polygons (for status lists)."""
    ids = uuids(image_ids)
    if not ids:
        return {}
    rows = latest_rows(ids).defer("polygons", "params", "timings")
    return {row.image_id: to_summary(row) for row in rows}


def latest_summaries_for_project(project_id) -> dict[uuid.UUID, VersionSummary]:
    """The latest version summary of every image of a project that has one (one query)."""
    pid = as_uuid(project_id)
    if pid is None:
        return {}
    newest = ResultVersionRow.objects.filter(image_id=OuterRef("image_id")).order_by("-version").values("version")[:1]
    rows = ResultVersionRow.objects.filter(project_id=pid, version=Subquery(newest)).defer("polygons", "params", "timings")
    return {row.image_id: to_summary(row) for row in rows}


def result_version(image_id, version: int | None = None) -> ResultVersion | None:
    iid = as_uuid(image_id)
    if iid is None:
        return None
    qs = ResultVersionRow.objects.filter(image_id=iid)
    row = qs.filter(version=version).first() if version is not None else qs.order_by("-version").first()
    return to_result(row) if row else None


def version_history(image_id) -> list[VersionSummary]:
    iid = as_uuid(image_id)
    if iid is None:
        return []
    rows = ResultVersionRow.objects.filter(image_id=iid).defer("polygons", "params", "timings").order_by("-version")
    return [to_summary(r) for r in rows]


def image_ids_with_results(project_id) -> list[uuid.UUID]:
    pid = as_uuid(project_id)
    if pid is None:
        return []
    return list(ResultVersionRow.objects.filter(project_id=pid).order_by().values_list("image_id", flat=True).distinct())


def model_info(row: SegmentationModel) -> ModelInfo:
    return ModelInfo(
        name=row.name,
        version=row.version,
        kind=row.kind,
        sha256=row.sha256 or None,
        parameters=row.parameters,
        description=row.description,
        metrics=dict(row.metrics or {}),
        default=row.is_default,
        enabled=row.enabled,
        defaults=dict(row.defaults or {}),
    )


def usable_models() -> list[SegmentationModel]:
    return list(SegmentationModel.objects.filter(enabled=True, available=True))


def available_models() -> list[SegmentationModel]:
    """Models the engine offers, enabled or not."""
    return list(SegmentationModel.objects.filter(available=True))
