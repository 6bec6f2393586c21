"""Per-object measurements and per-image summaries as CSV and XLSX (openpyxl).

One row per object: image id and name, result version, source, model name and version,
object number, confidence, every metric with its unit in the header (``area_px``,
``area_um2``, ...), bounding box and pixel size. Unknown values are empty cells, never a
placeholder. The summary has one row per image (count, total/mean/median area, equivalent
diameter, circularity); images that were never segmented appear with empty figures.

CSV files are UTF-8 with a byte-order mark (Excel opens µ and accented names correctly) and
``\\r\\n`` line ends (RFC 4180).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import IO, Any

from apps.segmentation.exports.base import (
    OBJECT_HEADERS,
    SUMMARY_HEADERS,
    ExportItem,
    ExportMeta,
    object_rows,
    summary_rows,
)

TABLES = ("objects", "summary")


def _cell(value: Any) -> Any:
    return "" if value is None else value


def csv_bytes(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return ("\ufeff" + text.getvalue()).encode("utf-8")


def write_csv(items: Sequence[ExportItem], meta: ExportMeta, out: IO[bytes], *, table: str = "objects") -> None:
    if table == "summary":
        out.write(csv_bytes(SUMMARY_HEADERS, summary_rows(items)))
    else:
        out.write(csv_bytes(OBJECT_HEADERS, object_rows(items)))


def _safe_text(value: Any) -> Any:
    """Cells starting like a formula are stored as text (no formula injection from file names)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def write_xlsx(items: Sequence[ExportItem], meta: ExportMeta, out: IO[bytes]) -> None:
    """A workbook with sheets ``objects`` and ``summary`` (header row frozen, units in headers)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook(write_only=False)
    sheets = [("objects", OBJECT_HEADERS, object_rows(items)), ("summary", SUMMARY_HEADERS, summary_rows(items))]
    first = True
    for title, headers, rows in sheets:
        sheet = workbook.active if first else workbook.create_sheet()
        first = False
        sheet.title = title
        sheet.append(list(headers))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append([_safe_text(v) for v in row])
        sheet.freeze_panes = "A2"
    info = workbook.create_sheet("export")
    for key, value in (
        ("project", meta.project_name),
        ("project_id", str(meta.project_id)),
        ("version", meta.version if meta.version else "latest"),
        ("created_at", meta.created_at.isoformat()),
        ("generator", f"Spheroseg {meta.app_version}"),
    ):
        info.append([key, _safe_text(value)])
    workbook.save(out)
