"""Label masks: one 16-bit greyscale PNG per segmented image (0 background, 1..N the objects in
result order, N <= 65535), rasterised by the one rasteriser in ``ml`` through the engine
adapter. A hole is background unless another object lies in it (an island keeps its label). Where
objects overlap (possible after manual edits) the later object's label wins: a label mask has
one label per pixel (COCO keeps each instance whole).

Rasterisation convention: a vertex sits on the centre of a boundary pixel and boundary pixels
belong to the object, so an object's pixel count exceeds its polygon area by about half its
perimeter (exterior and holes): ``area <= pixels <= area + (P_exterior + P_holes) / 2 + 2``.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence

import numpy as np

from apps.segmentation import engine
from apps.segmentation.exports.base import ExportItem, file_stems, polygon_dict

MAX_LABEL = 65535


def label_mask(item: ExportItem) -> np.ndarray:
    """The uint16 label mask of one image (``item.result`` must not be None)."""
    polygons = item.polygons
    if len(polygons) > MAX_LABEL:
        raise ValueError(f"{len(polygons)} objects do not fit a 16-bit label mask")
    return engine.rasterize([polygon_dict(p) for p in polygons], item.height, item.width)


def png_bytes(mask: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(mask.astype(np.uint16))).save(out, format="PNG")
    return out.getvalue()


def mask_files(items: Sequence[ExportItem]) -> list[tuple[str, bytes]]:
    """``(file name, PNG bytes)`` per segmented image."""
    stems = file_stems(items)
    return [(f"{stems[i.image.id]}_labels.png", png_bytes(label_mask(i))) for i in items if i.result is not None]


def write_zip(files: list[tuple[str, bytes]], out, *, compress: bool = True) -> None:
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(out, "w", compression=method) as archive:
        for name, data in files:
            archive.writestr(name, data)
