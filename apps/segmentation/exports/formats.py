"""The export format registry: name -> file extension, content type and writer."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import IO

from apps.segmentation.exports import archive, coco, geojson, imagej, masks, tables
from apps.segmentation.exports.base import ExportItem, ExportMeta

ZIP = "application/zip"


@dataclasses.dataclass(frozen=True)
class ExportFormat:
    name: str
    extension: str
    content_type: str
    description: str


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("coco", "json", "application/json", "COCO instance segmentation JSON"),
        ExportFormat("csv", "csv", "text/csv; charset=utf-8", "per-object measurements (or ?table=summary)"),
        ExportFormat("xlsx", "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     "objects and per-image summary sheets"),
        ExportFormat("masks", "zip", ZIP, "one 16-bit label PNG per image"),
        ExportFormat("geojson", "zip", ZIP, "one GeoJSON FeatureCollection per image"),
        ExportFormat("imagej", "zip", ZIP, "one ImageJ/Fiji RoiSet.zip per image"),
        ExportFormat("archive", "zip", ZIP, "originals, thumbnails, every format, manifest with SHA-256"),
    )
}


def write(
    fmt: str,
    items: Sequence[ExportItem],
    meta: ExportMeta,
    out: IO[bytes],
    *,
    table: str = "objects",
    open_original: archive.Opener | None = None,
    open_thumbnail: archive.Opener | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Write ``items`` in format ``fmt`` to the binary stream ``out``."""
    if fmt == "coco":
        coco.write(items, meta, out)
    elif fmt == "csv":
        tables.write_csv(items, meta, out, table=table)
    elif fmt == "xlsx":
        tables.write_xlsx(items, meta, out)
    elif fmt == "masks":
        masks.write_zip(masks.mask_files(items), out, compress=False)
    elif fmt == "geojson":
        masks.write_zip(geojson.geojson_files(items, meta), out)
    elif fmt == "imagej":
        masks.write_zip(imagej.roiset_files(items), out, compress=False)
    elif fmt == "archive":
        archive.write(
            items,
            meta,
            out,
            open_original=open_original or (lambda item: None),
            open_thumbnail=open_thumbnail or (lambda item: None),
            progress=progress,
        )
    else:
        raise ValueError(f"unknown export format {fmt!r}")
