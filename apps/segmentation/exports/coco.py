"""COCO instance segmentation JSON (https://cocodataset.org/#format-data).

* one category, ``spheroid`` (id 1);
* objects without holes: ``segmentation`` is a polygon ``[[x1, y1, x2, y2, ...]]`` in COCO's
  pixel-corner coordinates (stored coordinates + 0.5, see :mod:`.base`);
* objects with holes (COCO polygons cannot express holes: pycocotools merges rings as a union):
  ``segmentation`` is an uncompressed-string RLE (``pycocotools.mask.encode``) of the object
  rasterised alone by the one rasteriser in ``ml`` (through the engine adapter): the same
  pixels as the label-mask export wherever objects do not overlap (COCO instances may
  overlap; a label mask holds one label per pixel);
* ``area`` is the object's measured area in px² (exterior minus its own holes, the stored
  metric; the pixel count of the exported segmentation only where that metric is unknown), ``bbox`` is ``[x, y, w, h]`` of the exported geometry;
* ``attributes`` carries every stored metric (``null`` where it could not be computed), the
  confidence, and the result version, model name and version.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import IO, Any

import numpy as np

from apps.segmentation import engine
from apps.segmentation.exports.base import ExportItem, ExportMeta, open_ring, polygon_dict, shifted

CATEGORY = {"id": 1, "name": "spheroid", "supercategory": "cell"}


def _rle(mask: np.ndarray) -> dict[str, Any]:
    from pycocotools import mask as coco_mask

    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _rle_bbox(rle: dict[str, Any]) -> list[float]:
    from pycocotools import mask as coco_mask

    box = coco_mask.toBbox({"size": rle["size"], "counts": rle["counts"].encode("ascii")})
    return [round(float(v), 3) for v in box]


def _pixel_area(segmentation: Any, height: int, width: int) -> float:
    """Pixel count of an exported segmentation (used only where the metric is unknown)."""
    from pycocotools import mask as coco_mask

    if isinstance(segmentation, dict):
        rle = {"size": segmentation["size"], "counts": segmentation["counts"].encode("ascii")}
    else:
        rle = coco_mask.merge(coco_mask.frPyObjects(segmentation, height, width))
    return float(coco_mask.area(rle))


def _polygon_bbox(ring: list[list[float]]) -> list[float]:
    xs = [p[0] for p in ring]
    ys = [p[1] for p in ring]
    return [round(min(xs), 3), round(min(ys), 3), round(max(xs) - min(xs), 3), round(max(ys) - min(ys), 3)]


def build(items: Sequence[ExportItem], meta: ExportMeta) -> dict[str, Any]:
    """The COCO dataset as a dict (images without a result are left out: nothing was measured)."""
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    annotation_id = 0
    for image_number, item in enumerate((i for i in items if i.result is not None), start=1):
        result = item.result
        assert result is not None
        width, height = item.width, item.height
        images.append({
            "id": image_number,
            "file_name": item.image.original_name,
            "width": width,
            "height": height,
            "spheroseg_image_id": str(item.image.id),
            "pixel_size_um": result.pixel_size_um if result.pixel_size_um is not None else item.image.pixel_size_um,
            "result_version": result.version,
            "model_name": result.model_name,
            "model_version": result.model_version,
        })
        polygons = result.polygons
        for index, polygon in enumerate(polygons, start=1):
            annotation_id += 1
            if polygon.holes or len(open_ring(polygon.exterior)) < 3:
                # rasterised alone: COCO instances may overlap, a label mask cannot
                segmentation: Any = _rle(engine.rasterize([polygon_dict(polygon)], height, width) == 1)
                bbox = _rle_bbox(segmentation)
            else:
                ring = shifted(open_ring(polygon.exterior))
                segmentation = [[round(c, 3) for point in ring for c in point]]
                bbox = _polygon_bbox(ring)
            metrics = dict(polygon.metrics or {})
            area = metrics.get("area_px")
            annotations.append({
                "id": annotation_id,
                "image_id": image_number,
                "category_id": CATEGORY["id"],
                "segmentation": segmentation,
                "area": float(area) if isinstance(area, int | float) else _pixel_area(segmentation, height, width),
                "bbox": bbox,
                "iscrowd": 0,
                "score": polygon.confidence,
                "attributes": {
                    "object": index,
                    "confidence": polygon.confidence,
                    "holes": len(polygon.holes or []),
                    "result_version": result.version,
                    "model_name": result.model_name,
                    "model_version": result.model_version,
                    "metrics": metrics,
                },
            })
    return {
        "info": {
            "description": f"Spheroseg export of project {meta.project_name}",
            "version": str(meta.version) if meta.version else "latest",
            "date_created": meta.created_at.isoformat(),
            "contributor": "Spheroseg",
            "project_id": str(meta.project_id),
            "coordinates": "pixel corner at the origin (stored outline coordinates + 0.5)",
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [CATEGORY],
    }


def write(items: Sequence[ExportItem], meta: ExportMeta, out: IO[bytes]) -> None:
    out.write(json.dumps(build(items, meta), ensure_ascii=False, allow_nan=False).encode("utf-8"))
