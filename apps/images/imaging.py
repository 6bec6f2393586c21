"""Image decoding, validation and thumbnails (through ml.io, the one image reader).

The only module of the images context that imports ``ml`` (import-linter contract).
Every file is judged by what it decodes to, never by its name or declared type:

1. the header is probed (``ml.io.probe``): non-images, SVG/HTML, empty files and
   unsupported formats are refused here, and so is anything whose header declares more
   pixels than the limit, before a single pixel is decoded (decompression bombs), or a side
   under ``MIN_SIDE_PX``;
2. the first page is fully decoded (``ml.io.read_image``): truncated or corrupt data fails;
3. a thumbnail is made from the decoded pixels, contrast-stretched by ``ml.io.normalize``
   so 16-bit and dim images are visible.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from typing import BinaryIO

import numpy as np
from PIL import Image as PILImage

from ml import io as mlio

THUMBNAIL_SIZE = 256
MIN_SIDE_PX = 16  # a narrower image (a strip, a 1 x N line scan) holds no spheroid: refused
_CHUNK = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Decoded:
    format: str
    width: int
    height: int
    bit_depth: int
    channels: int
    pages: int
    pixel_size_um: float | None
    thumbnail_png: bytes


class ImagingError(ValueError):
    """The file is refused; ``code`` is machine-readable, the message is for people."""

    def __init__(self, detail: str, *, code: str):
        super().__init__(detail)
        self.detail = detail
        self.code = code


def sha256_of(fh: BinaryIO) -> str:
    """SHA-256 of a whole file object, read in chunks from its start (position restored to 0)."""
    digest = hashlib.sha256()
    fh.seek(0)
    while chunk := fh.read(_CHUNK):
        digest.update(chunk)
    fh.seek(0)
    return digest.hexdigest()


class _KeepOpen:
    """Delegating proxy whose close() does nothing: Pillow 13 closes a file object it was
    given when the image is closed, and the caller still needs the upload afterwards."""

    def __init__(self, fh: BinaryIO):
        self._fh = fh

    def close(self) -> None:
        pass

    def __getattr__(self, name):
        return getattr(self._fh, name)


def _classify(exc: Exception, *, stage: str) -> ImagingError:
    msg = str(exc) or "The file could not be read as an image."
    low = msg.lower()
    if "empty" in low:
        code = "empty"
    elif "too large" in low or "decompression bomb" in low:
        code = "too_many_pixels"
    elif any(k in low for k in ("svg", "html", "text file", "pdf")):
        code = "not_an_image"
    elif any(k in low for k in ("unrecognised", "not supported", "unsupported")):
        code = "unsupported_format"
    elif stage == "decode":
        code = "truncated"
    else:
        code = "corrupt"
    return ImagingError(msg, code=code)


def decode_and_thumbnail(fh: BinaryIO, *, max_pixels: int) -> Decoded:
    """Validate by decoding; returns the metadata and a PNG thumbnail. Raises ImagingError."""
    fh = _KeepOpen(fh)
    try:
        header = mlio.probe(fh)
    except mlio.ImageReadError as exc:
        err = _classify(exc, stage="probe")
        if err.code == "too_many_pixels":
            err = ImagingError(
                f"The image is larger than the limit of {max_pixels:,} pixels; it was refused before decoding.",
                code="too_many_pixels",
            )
        raise err from exc
    if min(header.width, header.height) < MIN_SIDE_PX:
        raise ImagingError(
            f"The image is {header.width} x {header.height} pixels; both sides must be at least "
            f"{MIN_SIDE_PX} px to hold a spheroid.",
            code="too_small",
        )
    if header.width * header.height > max_pixels:
        raise ImagingError(
            f"The image is {header.width} x {header.height} = {header.width * header.height:,} pixels, "
            f"over the limit of {max_pixels:,}; it was refused before decoding.",
            code="too_many_pixels",
        )
    try:
        array, info = mlio.read_image(fh, max_pixels=max_pixels)
    except mlio.ImageReadError as exc:
        raise _classify(exc, stage="decode") from exc
    finally:
        fh.seek(0)
    return Decoded(
        format=info.format,
        width=info.width,
        height=info.height,
        bit_depth=info.bit_depth,
        channels=info.channels,
        pages=info.pages,
        pixel_size_um=info.pixel_size_um,
        thumbnail_png=thumbnail_png(array),
    )


def thumbnail_png(array: np.ndarray, size: int = THUMBNAIL_SIZE) -> bytes:
    """Greyscale PNG thumbnail (longest side ``size``), robustly contrast-stretched."""
    h, w = array.shape[:2]
    # Subsample huge images first: the stretch and the resize then work on ~4x the thumbnail.
    step = max(1, max(h, w) // (size * 4))
    small = array[::step, ::step]
    stretched = mlio.normalize(small)
    grey = np.clip(stretched * 255.0 + 0.5, 0, 255).astype(np.uint8)
    img = PILImage.fromarray(grey)  # uint8 HxW: mode L
    img.thumbnail((size, size), PILImage.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()
