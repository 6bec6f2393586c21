"""Writes of the segmentation context: model registry sync, runs, result versions, edits."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max

from apps.common import events
from apps.images import api as images_api
from apps.images.contracts import AccessDenied, Action, ImageInfo, ImageNotFound, ProjectNotFound
from apps.segmentation import engine as engine_adapter
from apps.segmentation import selectors
from apps.segmentation.contracts import (
    SEGMENT_IMAGE_JOB,
    InvalidParameters,
    InvalidPolygons,
    ModelNotFound,
    ResultNotFound,
    ResultVersion,
    StaleVersion,
    VersionSource,
)
from apps.segmentation.events import ResultEdited, ResultRestored, RunRequested, RunSucceeded
from apps.segmentation.models import ResultVersion as ResultVersionRow
from apps.segmentation.models import SegmentationModel
from apps.tasks import api as tasks_api
from apps.tasks.contracts import JobInfo, Priority

logger = logging.getLogger(__name__)

# Limits of an edited outline set (a 100-megapixel image with 5,000 objects fits easily).
MAX_OBJECTS = 5_000
MAX_RING_POINTS = 20_000
MAX_TOTAL_POINTS = 500_000
MAX_HOLES = 200

PRIORITY_NAMES = {p.name.lower(): int(p) for p in Priority}


def _s(value) -> str | None:
    return None if value is None else str(value)


# --------------------------------------------------------------------------- model registry

_sync_lock = threading.Lock()
_synced = False


def _card_value(card: dict, *keys: str, default=None):
    for key in keys:
        if card.get(key) is not None:
            return card[key]
    return default


def sync_models(*, force: bool = False) -> list[SegmentationModel]:
    """Upsert the registry from the engine's model cards (idempotent).

    Models the engine no longer offers stay in the table (results refer to them) but are
    marked unavailable. The ``enabled`` flag is the operator's (admin) and is kept.
    """
    global _synced
    with _sync_lock:
        if _synced and not force:
            available = selectors.available_models()  # empty: the table was emptied, sync again
            if available:
                return [m for m in available if m.enabled]
        cards = engine_adapter.get_engine().list_models()
        try:
            _upsert_cards(cards)
        except IntegrityError:  # another process synced the same cards at the same moment
            _upsert_cards(cards)
        _synced = True
        return selectors.usable_models()


def _upsert_cards(cards: list[dict]) -> None:
    seen: list[tuple[str, str]] = []
    with transaction.atomic():
        for card in cards:
            name = str(card["name"])
            version = str(_card_value(card, "version", default="1"))
            seen.append((name, version))
            SegmentationModel.objects.update_or_create(
                name=name,
                version=version,
                defaults={
                    "kind": str(_card_value(card, "kind", "type", default="")),
                    "sha256": str(_card_value(card, "sha256", "checksum", default="") or ""),
                    "parameters": _card_value(card, "parameters", "n_parameters", "params_count"),
                    "description": str(_card_value(card, "description", default="")),
                    "metrics": _card_value(card, "metrics", "evaluation", default={}) or {},
                    "defaults": _card_value(card, "defaults", "default_params", default={}) or {},
                    "is_default": bool(card.get("default", False)),
                    "available": True,
                },
            )
        stale = SegmentationModel.objects.filter(available=True)
        for name, version in seen:
            stale = stale.exclude(name=name, version=version)
        stale.update(available=False, is_default=False)


def resolve_model(name: str | None) -> SegmentationModel:
    """The registry entry to run: by name (its newest available version), else the default."""
    models = sync_models()
    if not models:
        raise ModelNotFound("No segmentation model is available.")
    if name:
        matching = [m for m in models if m.name == name]
        if not matching:
            known = ", ".join(sorted({m.name for m in models}))
            raise ModelNotFound(f"Unknown or disabled model {name!r}. Available: {known}.", errors={"model": [f"Unknown model {name!r}."]})
        return sorted(matching, key=lambda m: m.synced_at)[-1]
    defaults = [m for m in models if m.is_default]
    return (defaults or models)[0]


# --------------------------------------------------------------------------- run requests


def parse_priority(value) -> int:
    if value is None or value == "":
        return int(Priority.NORMAL)
    if isinstance(value, str) and value.strip().lower() in PRIORITY_NAMES:
        return PRIORITY_NAMES[value.strip().lower()]
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool) or not 0 <= number <= 9:
        raise InvalidParameters(
            "priority must be low, normal, high or an integer from 0 to 9.",
            errors={"priority": ["Use low, normal, high or 0-9."]},
        )
    return number


def run_params(model: SegmentationModel, threshold=None, min_area_px=None) -> dict[str, Any]:
    params: dict[str, Any] = {"model": model.name, "model_version": model.version}
    if threshold is not None:
        try:
            t = float(threshold)
        except (TypeError, ValueError):
            t = float("nan")
        if isinstance(threshold, bool) or not (math.isfinite(t) and 0.0 < t < 1.0):
            raise InvalidParameters("threshold must be a number between 0 and 1.", errors={"threshold": ["Between 0 and 1 (exclusive)."]})
        params["threshold"] = t
    if min_area_px is not None:
        try:
            a = int(min_area_px)
        except (TypeError, ValueError):
            a = -1
        if isinstance(min_area_px, bool) or a < 0:
            raise InvalidParameters("min_area_px must be a non-negative integer.", errors={"min_area_px": ["A non-negative integer."]})
        params["min_area_px"] = a
    return params


def params_hash(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def _images_for_edit(*, user_id, image_ids: list[uuid.UUID]) -> dict[uuid.UUID, ImageInfo]:
    """The images, after checking EDIT access on each one's project (one check per project;
    one query in all for a single image)."""
    if len(image_ids) == 1:
        image, _ = images_api.check_image_access(user_id=user_id, image_id=image_ids[0], action=Action.EDIT)
        return {image.id: image}
    found = images_api.get_images(ids=image_ids)
    missing = [i for i in image_ids if i not in found]
    if missing:
        raise ImageNotFound(str(missing[0]))
    for project_id in {img.project_id for img in found.values()}:
        try:
            images_api.check_access(user_id=user_id, project_id=project_id, action=Action.EDIT)
        except ProjectNotFound:
            raise ImageNotFound(str(next(i for i in image_ids if found[i].project_id == project_id))) from None
    return found


def request_segmentation(
    *,
    user_id,
    image_ids: Iterable,
    model: str | None = None,
    threshold: float | None = None,
    priority=None,
    min_area_px: int | None = None,
) -> list[tuple[JobInfo, bool]]:
    """Queue a segmentation job per image (EDIT access needed), in the order given.

    Returns ``(job, created)`` per image; ``created`` is false when the same image, model and
    parameters already had a queued or running job, which is returned instead of a duplicate.
    """
    ids = selectors.uuids(image_ids)
    if not ids:
        return []
    images = _images_for_edit(user_id=user_id, image_ids=ids)
    entry = resolve_model(model)
    params = run_params(entry, threshold, min_area_px)
    prio = parse_priority(priority)
    digest = params_hash(params)
    out: list[tuple[JobInfo, bool]] = []
    # Everything that can be refused was checked above. Each job then commits on its own, so
    # the first images of a large batch start (and are announced) while the rest are queued;
    # a request repeated after a failure returns the jobs already queued (dedupe key).
    for image_id in ids:
        with transaction.atomic():
            image = images[image_id]
            job, created = tasks_api.submit_job(
                kind=SEGMENT_IMAGE_JOB,
                owner_id=user_id,
                project_id=image.project_id,
                image_id=image_id,
                params=params,
                priority=prio,
                dedupe_key=f"{image_id}:{entry.name}:{digest}",
            )
            if created:
                events.publish(
                    RunRequested(
                        subject_id=str(job.id),
                        actor_id=_s(user_id),
                        project_id=str(image.project_id),
                        image_id=str(image_id),
                        model_name=entry.name,
                        model_version=entry.version,
                        params=params,
                        priority=prio,
                    )
                )
            out.append((job, created))
    return out


def request_project_segmentation(
    *, user_id, project_id, image_ids: Iterable | None = None, **options
) -> list[tuple[JobInfo, bool]]:
    """Segment all (or the listed) images of a project; listed ids must belong to it."""
    images_api.check_access(user_id=user_id, project_id=project_id, action=Action.EDIT)
    all_ids = images_api.list_project_image_ids(project_id=project_id)
    if image_ids is None:
        ids = all_ids
    else:
        ids = selectors.uuids(image_ids)
        raw = list(image_ids)
        known = set(all_ids)
        foreign = [str(i) for i in ids if i not in known]
        if len(ids) != len(set(map(str, raw))) or foreign:
            bad = foreign or [str(v) for v in raw if selectors.as_uuid(v) is None]
            raise InvalidParameters(
                "image_ids must list images of this project.", errors={"image_ids": [f"Not in this project: {', '.join(bad[:5])}"]}
            )
    return request_segmentation(user_id=user_id, image_ids=ids, **options)


# --------------------------------------------------------------------------- result writes


def _next_version(image_id: uuid.UUID) -> int:
    current = ResultVersionRow.objects.filter(image_id=image_id).aggregate(v=Max("version"))["v"]
    return (current or 0) + 1


def _insert_version(**fields) -> ResultVersionRow:
    """Insert with the next version number; a concurrent writer makes us take the next one."""
    for _ in range(5):
        try:
            with transaction.atomic():
                return ResultVersionRow.objects.create(version=_next_version(fields["image_id"]), **fields)
        except IntegrityError:
            if fields.get("job_id") and ResultVersionRow.objects.filter(job_id=fields["job_id"]).exists():
                raise
            continue
    raise IntegrityError("could not allocate a result version")


def store_model_result(*, job: JobInfo, image: ImageInfo, result: dict[str, Any], actor_id=None) -> ResultVersionRow:
    """Store a run's result as a new version: once per job (unique ``job_id``; a second write
    for the same job returns the first row instead)."""
    polygons = [
        {
            "exterior": p.get("exterior") or [],
            "holes": p.get("holes") or [],
            "confidence": p.get("confidence"),
            "metrics": p.get("metrics") or {},
        }
        for p in result.get("polygons") or []
    ]
    try:
        row = _insert_version(
            image_id=image.id,
            project_id=image.project_id,
            source=VersionSource.MODEL.value,
            model_name=str(result.get("model_name") or job.params.get("model", "")),
            model_version=str(result.get("model_version") or job.params.get("model_version", "")),
            params=dict(job.params or {}),
            polygons=polygons,
            object_count=len(polygons),
            width=int(result.get("width") or image.width),
            height=int(result.get("height") or image.height),
            pixel_size_um=image.pixel_size_um,
            author_id=job.owner_id,
            job_id=job.id,
            timings=dict(result.get("timings") or {}),
        )
    except IntegrityError:
        existing = ResultVersionRow.objects.filter(job_id=job.id).first()
        if existing is None:
            raise
        return existing
    events.publish(
        RunSucceeded(
            subject_id=str(job.id),
            actor_id=_s(actor_id or job.owner_id),
            project_id=str(image.project_id),
            image_id=str(image.id),
            model_name=row.model_name,
            model_version=row.model_version,
            result_version=row.version,
            object_count=row.object_count,
            seconds=round(sum(v for v in row.timings.values() if isinstance(v, int | float)), 4),
        )
    )
    return row


def _point(value, width: int, height: int, where: str) -> list[float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise InvalidPolygons(f"{where}: each point must be [x, y].")
    out = []
    for c in value:
        if isinstance(c, bool) or not isinstance(c, int | float) or not math.isfinite(c):
            raise InvalidPolygons(f"{where}: coordinates must be finite numbers.")
        out.append(float(c))
    x, y = out
    if not (0 <= x <= width and 0 <= y <= height):
        raise InvalidPolygons(f"{where}: point [{x:g}, {y:g}] lies outside the image ({width} x {height}).")
    return out


def _ring(value, width: int, height: int, where: str) -> list[list[float]]:
    if not isinstance(value, list | tuple):
        raise InvalidPolygons(f"{where}: a ring must be a list of [x, y] points.")
    if len(value) > MAX_RING_POINTS:
        raise InvalidPolygons(f"{where}: at most {MAX_RING_POINTS} points per ring.")
    ring = [_point(p, width, height, where) for p in value]
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring = ring[:-1]  # an explicitly closed ring
    if len(ring) < 3:
        raise InvalidPolygons(f"{where}: a ring needs at least 3 distinct points.")
    area2 = sum(ring[i][0] * ring[i - 1][1] - ring[i - 1][0] * ring[i][1] for i in range(len(ring)))
    if abs(area2) <= 1e-9:
        raise InvalidPolygons(f"{where}: the ring has no area.")
    return ring


def validate_polygons(polygons, *, width: int, height: int) -> list[dict[str, Any]]:
    """Clean, bounded outlines from untrusted input (client metrics are dropped)."""
    if not isinstance(polygons, list):
        raise InvalidPolygons("polygons must be a list.", errors={"polygons": ["Expected a list."]})
    if len(polygons) > MAX_OBJECTS:
        raise InvalidPolygons(f"At most {MAX_OBJECTS} polygons.", errors={"polygons": [f"At most {MAX_OBJECTS} polygons."]})
    cleaned: list[dict[str, Any]] = []
    total = 0
    for index, item in enumerate(polygons):
        where = f"polygons[{index}]"
        try:
            if not isinstance(item, dict) or "exterior" not in item:
                raise InvalidPolygons(f"{where}: an object with 'exterior' (and optional 'holes') is expected.")
            exterior = _ring(item["exterior"], width, height, f"{where}.exterior")
            holes_in = item.get("holes") or []
            if not isinstance(holes_in, list) or len(holes_in) > MAX_HOLES:
                raise InvalidPolygons(f"{where}.holes: a list of at most {MAX_HOLES} rings is expected.")
            holes = [_ring(h, width, height, f"{where}.holes[{j}]") for j, h in enumerate(holes_in)]
            confidence = item.get("confidence")
            if confidence is not None and (
                isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1
            ):
                raise InvalidPolygons(f"{where}.confidence: a number between 0 and 1, or null.")
        except InvalidPolygons as exc:
            raise InvalidPolygons(exc.detail, errors={"polygons": [exc.detail]}) from None
        total += len(exterior) + sum(len(h) for h in holes)
        if total > MAX_TOTAL_POINTS:
            raise InvalidPolygons(f"At most {MAX_TOTAL_POINTS} points in all.", errors={"polygons": ["Too many points."]})
        cleaned.append({"exterior": exterior, "holes": holes, "confidence": None if confidence is None else float(confidence)})
    return cleaned


def measure(polygons: list[dict[str, Any]], *, pixel_size_um: float | None) -> list[dict[str, Any]]:
    """Attach server-computed metrics (through the engine adapter) to each polygon."""
    if not polygons:
        return []
    metrics = engine_adapter.get_engine().measure(polygons, pixel_size_um=pixel_size_um)
    return [{**p, "metrics": m or {}} for p, m in zip(polygons, metrics, strict=True)]


def _lock_latest(image_id: uuid.UUID) -> ResultVersionRow | None:
    return ResultVersionRow.objects.select_for_update().filter(image_id=image_id).order_by("-version").first()


def save_edit(*, user_id, image_id, base_version: int | None, polygons) -> ResultVersion:
    """Save edited outlines as a new version; ``StaleVersion`` if ``base_version`` is not the latest."""
    image, _access = images_api.check_image_access(user_id=user_id, image_id=image_id, action=Action.EDIT)
    if base_version is not None and (isinstance(base_version, bool) or not isinstance(base_version, int) or base_version < 1):
        raise InvalidParameters("base_version must be a positive integer (or null when there is no result yet).",
                                errors={"base_version": ["A positive integer or null."]})
    cleaned = validate_polygons(polygons, width=image.width, height=image.height)
    measured = measure(cleaned, pixel_size_um=image.pixel_size_um)
    with transaction.atomic():
        latest = _lock_latest(image.id)
        latest_version = latest.version if latest else None
        if latest_version != base_version:
            raise StaleVersion(
                f"The outlines changed meanwhile: you edited version {base_version}, the latest is {latest_version}. "
                "Reload the latest version and apply your changes again.",
                latest_version=latest_version,
                base_version=base_version,
            )
        try:
            with transaction.atomic():
                row = ResultVersionRow.objects.create(
                    image_id=image.id,
                    project_id=image.project_id,
                    version=(latest_version or 0) + 1,
                    source=VersionSource.EDIT.value,
                    model_name=latest.model_name if latest else "",
                    model_version=latest.model_version if latest else "",
                    params=dict(latest.params) if latest else {},
                    polygons=measured,
                    object_count=len(measured),
                    width=image.width,
                    height=image.height,
                    pixel_size_um=image.pixel_size_um,
                    author_id=user_id,
                    based_on=latest_version,
                )
        except IntegrityError:
            raise StaleVersion(
                "Another edit was saved at the same moment. Reload the latest version and apply your changes again.",
                latest_version=None,
                base_version=base_version,
            ) from None
        events.publish(
            ResultEdited(
                subject_id=str(image.id),
                actor_id=_s(user_id),
                project_id=str(image.project_id),
                result_version=row.version,
                base_version=base_version,
                object_count=row.object_count,
                model_name=row.model_name,
                model_version=row.model_version,
            )
        )
    return selectors.to_result(row)


def restore_version(*, user_id, image_id, version: int) -> ResultVersion:
    """Copy ``version`` as a new latest version (history is never rewritten)."""
    image, _access = images_api.check_image_access(user_id=user_id, image_id=image_id, action=Action.EDIT)
    with transaction.atomic():
        source = ResultVersionRow.objects.filter(image_id=image.id, version=version).first()
        if source is None:
            raise ResultNotFound(f"Version {version} does not exist for this image.")
        _lock_latest(image.id)  # serialise with concurrent edits of this image
        row = _insert_version(
            image_id=image.id,
            project_id=image.project_id,
            source=VersionSource.RESTORE.value,
            model_name=source.model_name,
            model_version=source.model_version,
            params=dict(source.params or {}),
            polygons=list(source.polygons or []),
            object_count=source.object_count,
            width=source.width or image.width,
            height=source.height or image.height,
            pixel_size_um=source.pixel_size_um,
            author_id=user_id,
            based_on=source.version,
            timings={},
        )
        events.publish(
            ResultRestored(
                subject_id=str(image.id),
                actor_id=_s(user_id),
                project_id=str(image.project_id),
                result_version=row.version,
                restored_version=source.version,
                object_count=row.object_count,
                model_name=row.model_name,
                model_version=row.model_version,
            )
        )
    return selectors.to_result(row)


# --------------------------------------------------------------------------- reactions


def delete_image_results(*, image_id) -> int:
    iid = selectors.as_uuid(image_id)
    if iid is None:
        return 0
    return ResultVersionRow.objects.filter(image_id=iid).delete()[0]


def delete_project_results(*, project_id) -> int:
    pid = selectors.as_uuid(project_id)
    if pid is None:
        return 0
    return ResultVersionRow.objects.filter(project_id=pid).delete()[0]


__all__ = [
    "AccessDenied",
    "delete_image_results",
    "delete_project_results",
    "request_project_segmentation",
    "request_segmentation",
    "restore_version",
    "save_edit",
    "store_model_result",
    "sync_models",
]
