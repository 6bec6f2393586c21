"""The full project archive: originals, thumbnails, every export format, and ``manifest.json``.

Layout (ZIP)::

    manifest.json                 export metadata, images, and SHA-256 + size of every other file
    originals/<name>.<ext>        the uploaded files, byte for byte
    thumbnails/<name>.png
    coco/annotations.json
    tables/objects.csv  tables/summary.csv  tables/measurements.xlsx
    masks/<name>_labels.png
    geojson/<name>.geojson
    imagej/<name>_RoiSet.zip

Originals are streamed into the archive in chunks (hashing on the way), never held in memory.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Sequence
from typing import IO, Any, BinaryIO

from apps.segmentation.exports import coco, geojson, imagej, masks, tables
from apps.segmentation.exports.base import (
    OBJECT_HEADERS,
    SUMMARY_HEADERS,
    ExportItem,
    ExportMeta,
    file_stems,
    object_rows,
    summary_rows,
)

Opener = Callable[[ExportItem], BinaryIO | None]
Progress = Callable[[int], None]
CHUNK = 1024 * 1024
_EXT = {"PNG": "png", "JPEG": "jpg", "TIFF": "tif", "BMP": "bmp"}


class _Writer:
    def __init__(self, archive: zipfile.ZipFile):
        self.archive = archive
        self.files: list[dict[str, Any]] = []

    def add_bytes(self, name: str, data: bytes, *, compress: bool = True) -> None:
        method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        self.archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, compress_type=method)
        self.files.append({"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})

    def add_stream(self, name: str, source: BinaryIO) -> None:
        digest = hashlib.sha256()
        size = 0
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_STORED  # microscopy files hardly compress
        with self.archive.open(info, "w", force_zip64=True) as target:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                target.write(chunk)
        self.files.append({"path": name, "size": size, "sha256": digest.hexdigest()})


def write(
    items: Sequence[ExportItem],
    meta: ExportMeta,
    out: IO[bytes],
    *,
    open_original: Opener,
    open_thumbnail: Opener,
    progress: Progress | None = None,
) -> None:
    report = progress or (lambda percent: None)
    stems = file_stems(items)
    image_entries: list[dict[str, Any]] = []
    with zipfile.ZipFile(out, "w", allowZip64=True) as archive:
        writer = _Writer(archive)
        total = max(1, len(items))
        for n, item in enumerate(items, start=1):
            stem = stems[item.image.id]
            entry: dict[str, Any] = {
                "image_id": str(item.image.id),
                "name": item.image.original_name,
                "width": item.width,
                "height": item.height,
                "pixel_size_um": item.image.pixel_size_um,
                "sha256": item.image.sha256,
                "result_version": item.result.version if item.result else None,
                "model_name": item.result.model_name if item.result else None,
                "model_version": item.result.model_version if item.result else None,
                "object_count": len(item.result.polygons) if item.result else None,
                "segmented": item.result is not None,
            }
            original = open_original(item)
            if original is not None:
                path = f"originals/{stem}.{_EXT.get(item.image.format, 'bin')}"
                with original:
                    writer.add_stream(path, original)
                entry["original"] = path
            thumbnail = open_thumbnail(item)
            if thumbnail is not None:
                path = f"thumbnails/{stem}.png"
                with thumbnail:
                    writer.add_bytes(path, thumbnail.read(), compress=False)
                entry["thumbnail"] = path
            image_entries.append(entry)
            report(5 + 45 * n // total)

        buffer = io.BytesIO()
        coco.write(items, meta, buffer)
        writer.add_bytes("coco/annotations.json", buffer.getvalue())
        writer.add_bytes("tables/objects.csv", tables.csv_bytes(OBJECT_HEADERS, object_rows(items)))
        writer.add_bytes("tables/summary.csv", tables.csv_bytes(SUMMARY_HEADERS, summary_rows(items)))
        buffer = io.BytesIO()
        tables.write_xlsx(items, meta, buffer)
        writer.add_bytes("tables/measurements.xlsx", buffer.getvalue(), compress=False)
        report(60)
        for name, data in masks.mask_files(items):
            writer.add_bytes(f"masks/{name}", data, compress=False)
        report(75)
        for name, data in geojson.geojson_files(items, meta):
            writer.add_bytes(f"geojson/{name}", data)
        for name, data in imagej.roiset_files(items):
            writer.add_bytes(f"imagej/{name}", data, compress=False)
        report(90)
        manifest = {
            "generator": f"Spheroseg {meta.app_version}",
            "project_id": str(meta.project_id),
            "project_name": meta.project_name,
            "created_at": meta.created_at.isoformat(),
            "version": meta.version if meta.version else "latest",
            "coordinates": {
                "stored_geojson": "pixel centres at integer coordinates",
                "coco_imagej": "pixel corner at the origin (stored + 0.5)",
            },
            "images": image_entries,
            "files": writer.files,
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
