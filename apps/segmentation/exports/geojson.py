"""GeoJSON (RFC 7946 structure): one FeatureCollection per segmented image.

Each object is a ``Polygon`` feature: the first ring is the exterior, the following rings its
holes, all closed (first vertex repeated), exterior counter-clockwise and holes clockwise in a
y-up frame as RFC 7946 recommends. Coordinates are image pixels in the stored convention (the
same numbers as the REST API: pixel centres at integer coordinates), not geographic: the
collection says so in ``properties``. Feature ``properties`` hold every stored metric
(``null`` where unknown), the confidence, and the object number.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from apps.segmentation.exports.base import ExportItem, ExportMeta, closed_ring, file_stems, open_ring


def _signed_area(ring: list[list[float]]) -> float:
    s = 0.0
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
        s += x1 * y2 - x2 * y1
    return s / 2


def _oriented(ring: Sequence[Sequence[float]], *, ccw: bool) -> list[list[float]]:
    pts = open_ring(ring)
    if len(pts) >= 3 and (_signed_area(pts) > 0) != ccw:
        pts = pts[::-1]
    return closed_ring(pts)


def feature_collection(item: ExportItem, meta: ExportMeta) -> dict[str, Any]:
    result = item.result
    assert result is not None
    features = []
    for index, polygon in enumerate(result.polygons, start=1):
        rings = [_oriented(polygon.exterior, ccw=True)] + [_oriented(h, ccw=False) for h in polygon.holes or []]
        features.append({
            "type": "Feature",
            "id": index,
            "geometry": {"type": "Polygon", "coordinates": rings},
            "properties": {"object": index, "confidence": polygon.confidence, **dict(polygon.metrics or {})},
        })
    return {
        "type": "FeatureCollection",
        "properties": {
            "image_id": str(item.image.id),
            "image_name": item.image.original_name,
            "width": item.width,
            "height": item.height,
            "pixel_size_um": result.pixel_size_um,
            "result_version": result.version,
            "model_name": result.model_name,
            "model_version": result.model_version,
            "project_id": str(meta.project_id),
            "coordinates": "image pixels, x right, y down, pixel centres at integer coordinates",
        },
        "features": features,
    }


def geojson_files(items: Sequence[ExportItem], meta: ExportMeta) -> list[tuple[str, bytes]]:
    stems = file_stems(items)
    return [
        (f"{stems[i.image.id]}.geojson",
         json.dumps(feature_collection(i, meta), ensure_ascii=False, allow_nan=False).encode("utf-8"))
        for i in items
        if i.result is not None
    ]
