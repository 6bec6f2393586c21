"""Test helpers: image bytes of every kind (good and bad), multipart bodies, stored-file listing."""

from __future__ import annotations

import io
import struct
import uuid
import zlib
from pathlib import Path

import numpy as np
from django.core.files.storage import default_storage
from PIL import Image as PILImage

DEMO = Path(__file__).resolve().parents[3] / "demo" / "spheroids"
DEMO_IMAGES = sorted(DEMO.glob("*.png"))


def png_bytes(width: int = 64, height: int = 48, *, seed: int = 0, mode: str = "L") -> bytes:
    rng = np.random.default_rng(seed)
    shape = (height, width, 3) if mode == "RGB" else (height, width)
    arr = rng.integers(0, 255, size=shape, dtype=np.uint8)
    out = io.BytesIO()
    PILImage.fromarray(arr).save(out, format="PNG")
    return out.getvalue()


def jpeg_bytes(width: int = 64, height: int = 48, seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    out = io.BytesIO()
    PILImage.fromarray(rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)).save(out, format="JPEG")
    return out.getvalue()


def bmp_bytes(width: int = 40, height: int = 30, seed: int = 2) -> bytes:
    rng = np.random.default_rng(seed)
    out = io.BytesIO()
    PILImage.fromarray(rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)).save(out, format="BMP")
    return out.getvalue()


def tiff16_bytes(width: int = 80, height: int = 60, *, lo: int = 1000, hi: int = 1200, pages: int = 1,
                 resolution_um: float | None = None, compression: str | None = None) -> bytes:
    """A 16-bit greyscale TIFF using only a narrow band [lo, hi) of its range (dim), its pages
    compressed by ``compression`` (tifffile's name: "lzw", "zlib", ...) if given."""
    import tifffile

    rng = np.random.default_rng(3)
    data = rng.integers(lo, hi, size=(pages, height, width), dtype=np.uint16)
    out = io.BytesIO()
    kwargs = {}
    if resolution_um:
        kwargs = {"imagej": True, "resolution": (1 / resolution_um, 1 / resolution_um), "metadata": {"unit": "um"}}
        tifffile.imwrite(out, data if pages > 1 else data[0], **kwargs)
    else:
        with tifffile.TiffWriter(out) as tw:
            for page in data:
                tw.write(page, photometric="minisblack", compression=compression)
    return out.getvalue()


def truncated_png() -> bytes:
    data = png_bytes(256, 256, seed=9)
    return data[: len(data) // 2]


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def cielab_tiff(width: int = 20, height: int = 10) -> bytes:
    """A valid 8-bit TIFF whose pixels are CIE L*a*b* colours (a colour space ml.io refuses)."""
    import tifffile

    out = io.BytesIO()
    tifffile.imwrite(out, np.zeros((height, width, 3), np.uint8), photometric="cielab")
    return out.getvalue()


def huge_png_header(width: int = 30_000, height: int = 30_000) -> bytes:
    """A tiny PNG whose header declares width x height pixels (a decompression bomb's shape)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def huge_tiff_header(width: int = 30_000, height: int = 30_000) -> bytes:
    """A tiny uncompressed 8-bit TIFF whose IFD declares width x height pixels."""
    entries = [
        (256, 4, 1, width),  # ImageWidth (LONG)
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # Photometric: min-is-black
        (273, 4, 1, 8),  # StripOffsets
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, height),  # RowsPerStrip
        (279, 4, 1, width * height),  # StripByteCounts
    ]
    ifd_offset = 8 + 16
    body = b"II*\x00" + struct.pack("<I", ifd_offset) + b"\x00" * 16
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        packed = struct.pack("<HHI", tag, typ, count)
        packed += struct.pack("<HH", value, 0) if typ == 3 else struct.pack("<I", value)
        ifd += packed
    ifd += struct.pack("<I", 0)
    return body + ifd


def ome_tiff_bytes(*, physical_size: float, unit: str = "µm", pages: int = 3, width: int = 64,
                   height: int = 40) -> bytes:
    """A dim 16-bit OME-TIFF z-stack whose OME-XML declares PhysicalSizeX in ``unit``."""
    import tifffile

    data = np.random.default_rng(4).integers(300, 340, size=(pages, height, width), dtype=np.uint16)
    out = io.BytesIO()
    tifffile.imwrite(out, data, ome=True, photometric="minisblack", metadata={
        "axes": "ZYX", "PhysicalSizeX": physical_size, "PhysicalSizeXUnit": unit,
        "PhysicalSizeY": physical_size, "PhysicalSizeYUnit": unit,
    })
    return out.getvalue()


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
TEXT = b"this is not an image, just text pretending to be a TIFF\n"


def multipart(files: list[tuple[str, bytes]], field: str = "files") -> tuple[bytes, str]:
    """A multipart body with the given file names kept verbatim (the test client strips paths)."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, data in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n"
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def upload(client, project_id, files: list[tuple[str, bytes]]):
    body, content_type = multipart(files)
    return client.generic("POST", f"/api/v1/projects/{project_id}/images/", body, content_type=content_type)


def stored_names(prefix: str = "") -> list[str]:
    """Every file in default storage (recursively), optionally under a prefix."""
    found: list[str] = []

    def walk(path: str) -> None:
        try:
            dirs, files = default_storage.listdir(path)
        except (FileNotFoundError, NotADirectoryError):
            return
        for f in files:
            found.append(f"{path}/{f}" if path else f)
        for d in dirs:
            walk(f"{path}/{d}" if path else d)

    walk(prefix.rstrip("/"))
    return sorted(found)


def project_files(project_id) -> list[str]:
    """Stored originals and thumbnails of one project (works on a shared S3 bucket too)."""
    return stored_names(f"images/{project_id}") + stored_names(f"thumbnails/{project_id}")
