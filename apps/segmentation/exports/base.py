"""Shared pieces of the export formats: the input item, file naming, metric columns, conventions.

Every format is a pure function of :class:`ExportItem` values (an image's
:class:`~apps.images.contracts.ImageInfo` and its chosen
:class:`~apps.segmentation.contracts.ResultVersion`), so it can be tested without a database.
Images without a result are listed in the summaries and the manifest but get no
annotations, masks or ROIs: an empty annotation file would claim "no objects", which nobody
measured.

Coordinates. Stored outlines (and the REST API, and GeoJSON) use the engine's convention:
``[x, y]`` in pixels with the *centre* of pixel (i, j) at (i, j), a vertex on the centre of a
boundary pixel (OpenCV contours). COCO and ImageJ put the *corner* of pixel (0, 0) at the origin
(pixel (i, j) covers [i, i+1) x [j, j+1)), so their coordinates are the stored ones plus 0.5.
Areas do not change under the shift.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import statistics
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from apps.images.contracts import ImageInfo
from apps.segmentation.contracts import Polygon, ResultVersion

#: Offset added to stored coordinates for pixel-corner conventions (COCO, ImageJ).
CORNER_OFFSET = 0.5


@dataclasses.dataclass(frozen=True)
class ExportItem:
    """One image of an export and the result version chosen for it (None: never segmented)."""

    image: ImageInfo
    result: ResultVersion | None

    @property
    def width(self) -> int:
        return int((self.result.width if self.result else 0) or self.image.width)

    @property
    def height(self) -> int:
        return int((self.result.height if self.result else 0) or self.image.height)

    @property
    def polygons(self) -> list[Polygon]:
        return list(self.result.polygons) if self.result else []


@dataclasses.dataclass(frozen=True)
class ExportMeta:
    """What an export is about (written into COCO ``info``, the manifest and file names)."""

    project_id: uuid.UUID
    project_name: str
    created_at: dt.datetime
    version: int | None = None  # the chosen version, None = latest
    app_version: str = "1.0.0"


# --------------------------------------------------------------------------- naming

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_stem(name: str) -> str:
    """A file-system and ZIP safe stem of an uploaded file name (no directories, no dots first)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base.strip(".") else base
    stem = _UNSAFE.sub("_", stem).strip("._-")
    return stem[:80] or "image"


def file_stems(items: Sequence[ExportItem]) -> dict[uuid.UUID, str]:
    """A unique stem per image (the name, with a short id appended when names collide)."""
    stems = {item.image.id: safe_stem(item.image.original_name) for item in items}
    counts: dict[str, int] = {}
    for stem in stems.values():
        key = stem.lower()
        counts[key] = counts.get(key, 0) + 1
    return {
        image_id: (f"{stem}_{image_id.hex[:8]}" if counts[stem.lower()] > 1 else stem)
        for image_id, stem in stems.items()
    }


def slug(text: str) -> str:
    return _UNSAFE.sub("-", text).strip("-._").lower()[:60] or "project"


# --------------------------------------------------------------------------- geometry helpers


def shifted(ring: Iterable[Sequence[float]], offset: float = CORNER_OFFSET) -> list[list[float]]:
    return [[float(x) + offset, float(y) + offset] for x, y in ring]


def open_ring(ring: Sequence[Sequence[float]]) -> list[list[float]]:
    """The ring without an explicit closing vertex."""
    pts = [[float(x), float(y)] for x, y in ring]
    if len(pts) > 1 and pts[0] == pts[-1]:
        pts = pts[:-1]
    return pts


def closed_ring(ring: Sequence[Sequence[float]]) -> list[list[float]]:
    pts = open_ring(ring)
    return [*pts, pts[0]] if pts else pts


def polygon_dict(polygon: Polygon) -> dict[str, Any]:
    return {"exterior": polygon.exterior, "holes": polygon.holes or []}


# --------------------------------------------------------------------------- metric columns

# (header with unit, metrics key). Units are in the header; a value the engine could not
# compute (or a µm value without a pixel size) is left empty, never filled in.
METRIC_COLUMNS: list[tuple[str, str]] = [
    ("area_px", "area_px"),
    ("area_um2", "area_um2"),
    ("perimeter_px", "perimeter_px"),
    ("perimeter_um", "perimeter_um"),
    ("equivalent_diameter_px", "equivalent_diameter_px"),
    ("equivalent_diameter_um", "equivalent_diameter_um"),
    ("circularity", "circularity"),
    ("sphericity", "sphericity"),
    ("convexity", "convexity"),
    ("solidity", "solidity"),
    ("extent", "extent"),
    ("feret_max_px", "feret_max_px"),
    ("feret_max_um", "feret_max_um"),
    ("feret_min_px", "feret_min_px"),
    ("feret_min_um", "feret_min_um"),
    ("feret_ratio", "feret_ratio"),
    ("ellipse_major_px", "ellipse_major_px"),
    ("ellipse_major_um", "ellipse_major_um"),
    ("ellipse_minor_px", "ellipse_minor_px"),
    ("ellipse_minor_um", "ellipse_minor_um"),
    ("eccentricity", "eccentricity"),
    ("orientation_deg", "orientation_deg"),
    ("centroid_x_px", "centroid_x"),
    ("centroid_y_px", "centroid_y"),
    ("centroid_x_um", "centroid_x_um"),
    ("centroid_y_um", "centroid_y_um"),
    ("holes", "holes"),
]
BBOX_COLUMNS = ["bbox_x_px", "bbox_y_px", "bbox_width_px", "bbox_height_px"]

OBJECT_HEADERS: list[str] = [
    "image_id",
    "image_name",
    "result_version",
    "source",
    "model_name",
    "model_version",
    "object",
    "confidence",
    *[header for header, _ in METRIC_COLUMNS],
    *BBOX_COLUMNS,
    "pixel_size_um",
]

SUMMARY_HEADERS: list[str] = [
    "image_id",
    "image_name",
    "width_px",
    "height_px",
    "pixel_size_um",
    "result_version",
    "source",
    "model_name",
    "model_version",
    "object_count",
    "total_area_px",
    "mean_area_px",
    "median_area_px",
    "total_area_um2",
    "mean_area_um2",
    "median_area_um2",
    "mean_equivalent_diameter_px",
    "median_equivalent_diameter_px",
    "mean_equivalent_diameter_um",
    "median_equivalent_diameter_um",
    "mean_circularity",
    "median_circularity",
]


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return value
    return None


def object_rows(items: Iterable[ExportItem]) -> list[list[Any]]:
    """One row per object (``OBJECT_HEADERS``); ``None`` where a value is unknown."""
    rows: list[list[Any]] = []
    for item in items:
        result = item.result
        if result is None:
            continue
        for index, polygon in enumerate(result.polygons, start=1):
            metrics = polygon.metrics or {}
            bbox = metrics.get("bbox")
            bbox_values = list(bbox) if isinstance(bbox, list | tuple) and len(bbox) == 4 else [None] * 4
            rows.append([
                str(item.image.id),
                item.image.original_name,
                result.version,
                str(result.source),
                result.model_name,
                result.model_version,
                index,
                polygon.confidence,
                *[_number(metrics.get(key)) for _, key in METRIC_COLUMNS],
                *[_number(v) for v in bbox_values],
                _number(metrics.get("pixel_size_um", result.pixel_size_um)),
            ])
    return rows


def _stats(values: list[float]) -> tuple[float | None, float | None, float | None]:
    """(total, mean, median) of the known values; all None when there are none."""
    if not values:
        return None, None, None
    return round(sum(values), 4), round(statistics.fmean(values), 4), round(statistics.median(values), 4)


def _known(polygons: list[Polygon], key: str) -> list[float]:
    out = []
    for p in polygons:
        v = _number((p.metrics or {}).get(key))
        if v is not None:
            out.append(float(v))
    return out


def summary_rows(items: Iterable[ExportItem]) -> list[list[Any]]:
    """One row per image (``SUMMARY_HEADERS``). Images without a result have empty figures."""
    rows: list[list[Any]] = []
    for item in items:
        result = item.result
        pixel_size = (result.pixel_size_um if result else None) or item.image.pixel_size_um
        head = [str(item.image.id), item.image.original_name, item.width, item.height, pixel_size]
        if result is None:
            rows.append([*head, *[None] * (len(SUMMARY_HEADERS) - len(head))])
            continue
        polys = list(result.polygons)
        area_total, area_mean, area_median = _stats(_known(polys, "area_px"))
        um_total, um_mean, um_median = _stats(_known(polys, "area_um2"))
        _, d_mean, d_median = _stats(_known(polys, "equivalent_diameter_px"))
        _, dum_mean, dum_median = _stats(_known(polys, "equivalent_diameter_um"))
        _, c_mean, c_median = _stats(_known(polys, "circularity"))
        if not polys:
            area_total = 0.0  # zero objects were found: a measured zero, not an unknown
        rows.append([
            *head, result.version, str(result.source), result.model_name, result.model_version, len(polys),
            area_total, area_mean, area_median, um_total, um_mean, um_median,
            d_mean, d_median, dum_mean, dum_median, c_mean, c_median,
        ])
    return rows
