"""ImageJ / Fiji ROI sets (``roifile``): one ``<image>_RoiSet.zip`` per segmented image, each
holding one polygon ROI per object, ready for the ROI Manager (File > Open, or drag and drop).

* Coordinates are sub-pixel (float) in ImageJ's pixel-corner convention: stored + 0.5.
* ImageJ polygon ROIs have no holes. Each object is exported as its exterior, named
  ``obj-0001`` (the object number of the other formats), and each of its holes as a separate
  polygon ROI named ``obj-0001-hole-1``, ``obj-0001-hole-2`` ... To measure an object with
  holes in Fiji, select the exterior and its holes and use "XOR" (or subtract the holes'
  areas); the CSV/XLSX ``area_px`` already is exterior minus holes.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence

import numpy as np

from apps.segmentation.exports.base import ExportItem, file_stems, open_ring, shifted


def _roi(ring, name: str):
    import roifile

    points = np.asarray(shifted(open_ring(ring)), dtype=np.float64)
    roi = roifile.ImagejRoi.frompoints(points, name=name)
    roi.roitype = roifile.ROI_TYPE.POLYGON
    return roi


def roi_name(index: int, hole: int | None = None) -> str:
    return f"obj-{index:04d}" if hole is None else f"obj-{index:04d}-hole-{hole}"


def roiset_bytes(item: ExportItem) -> bytes:
    """The ROI set ZIP of one segmented image."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for index, polygon in enumerate(item.polygons, start=1):
            if len(open_ring(polygon.exterior)) < 1:
                continue
            name = roi_name(index)
            archive.writestr(f"{name}.roi", _roi(polygon.exterior, name).tobytes())
            for k, hole in enumerate(polygon.holes or [], start=1):
                if len(open_ring(hole)) < 1:
                    continue
                hole_name = roi_name(index, k)
                archive.writestr(f"{hole_name}.roi", _roi(hole, hole_name).tobytes())
    return out.getvalue()


def roiset_files(items: Sequence[ExportItem]) -> list[tuple[str, bytes]]:
    stems = file_stems(items)
    return [(f"{stems[i.image.id]}_RoiSet.zip", roiset_bytes(i)) for i in items if i.result is not None]
