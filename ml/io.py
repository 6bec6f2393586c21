"""Image probing, decoding and normalisation.

numpy / Pillow / tifffile (and SciPy, lazily, for burned-in text): no torch, no OpenCV, so the
images context can use it for upload validation, metadata and thumbnails without loading the
engine.

- :func:`probe` reads only the header (no pixel decoding): callers refuse decompression bombs
  by pixel count before anything is decoded.
- :func:`read_image` fully decodes (first page of a multi-page TIFF), keeps the native dtype.
- :func:`normalize` turns any decoded array into float32 HxW in [0, 1] with a robust
  percentile stretch (0.5 / 99.5 %), so a 16-bit image with a narrow dynamic range looks like
  (and segments like) an 8-bit one; burned-in text and scale bars (:func:`burned_in`,
  :func:`coloured_overlays`) are left
  out of the percentiles, and so is the dark outside of a field stop or well (:func:`outside_field`);
  :func:`normalize_with_masks` also tells the engine where both are.
"""

from __future__ import annotations

import contextlib
import io as _io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np
from PIL import Image, ImageFile, ImageOps

__all__ = ["ImageInfo", "ImageReadError", "probe", "read_image", "normalize", "normalize_with_masks", "Normalized", "SUPPORTED_FORMATS"]

# A truncated file must raise, never decode half an image silently.
ImageFile.LOAD_TRUNCATED_IMAGES = False

SUPPORTED_FORMATS = ("PNG", "JPEG", "TIFF", "BMP")

Source = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO

# Microscopy pixels are well below this; 72/96/300 dpi "print" resolutions written by image
# editors (352, 265, 85 µm per pixel) are not a physical pixel size and are ignored.
_MAX_PLAUSIBLE_PIXEL_UM = 50.0


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    bit_depth: int  # 8, 16 or 32 (bits per sample)
    channels: int
    pages: int
    pixel_size_um: float | None
    format: str  # "PNG", "JPEG", "TIFF", "BMP"

    @property
    def pixels(self) -> int:
        return self.width * self.height


class ImageReadError(ValueError):
    """The file is not an image this engine can read; the message is meant for humans."""


# --------------------------------------------------------------------------- source handling


class _Opened:
    """Context manager giving a seekable binary stream positioned at the start of the data."""

    def __init__(self, source: Source):
        self.source = source
        self._own = False
        self._restore = 0

    def __enter__(self) -> BinaryIO:
        src = self.source
        if isinstance(src, (bytes, bytearray, memoryview)):
            self.fh = _io.BytesIO(bytes(src))
            self._own = True
        elif isinstance(src, (str, os.PathLike)):
            path = Path(src)
            if not path.is_file():
                raise ImageReadError(f"File not found: {path}")
            self.fh = open(path, "rb")
            self._own = True
        elif hasattr(src, "read"):
            fh = src
            if not (hasattr(fh, "seek") and hasattr(fh, "tell")):
                fh = _io.BytesIO(fh.read())
                self._own = True
            self.fh = fh
            try:
                self._restore = fh.tell()
                fh.seek(0)  # a file object is always read from its beginning
            except Exception:  # pragma: no cover - exotic streams
                self._restore = 0
        else:
            raise ImageReadError(f"Unsupported source type: {type(src).__name__}")
        return self.fh

    def __exit__(self, *exc):
        if self._own:
            self.fh.close()
        else:
            with contextlib.suppress(OSError, ValueError):
                self.fh.seek(self._restore)
        return False


def _sniff(head: bytes) -> str:
    """Format from magic bytes; raise ImageReadError with a clear message otherwise."""
    if not head:
        raise ImageReadError("The file is empty.")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head.startswith(b"BM"):
        return "BMP"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<?xml") or b"<svg" in text[:1024]:
        raise ImageReadError("SVG/XML vector files are not supported; upload a PNG, JPEG, TIFF or BMP image.")
    if text.startswith((b"<!doctype html", b"<html")):
        raise ImageReadError("This is an HTML page, not an image; upload a PNG, JPEG, TIFF or BMP image.")
    if head.startswith(b"GIF8"):
        raise ImageReadError("GIF images are not supported; upload a PNG, JPEG, TIFF or BMP image.")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        raise ImageReadError("WebP images are not supported; upload a PNG, JPEG, TIFF or BMP image.")
    if head.startswith(b"%PDF"):
        raise ImageReadError("PDF documents are not supported; upload a PNG, JPEG, TIFF or BMP image.")
    try:
        head.decode("utf-8")
        raise ImageReadError("This is a text file, not an image; upload a PNG, JPEG, TIFF or BMP image.")
    except UnicodeDecodeError:
        pass
    raise ImageReadError("Unrecognised or unsupported file format; upload a PNG, JPEG, TIFF or BMP image.")


# --------------------------------------------------------------------------- Pillow formats

_PIL_BITS = {
    "1": 8, "L": 8, "P": 8, "RGB": 8, "RGBA": 8, "LA": 8, "CMYK": 8, "YCbCr": 8, "RGBX": 8,
    "I;16": 16, "I;16B": 16, "I;16L": 16, "I;16N": 16, "I": 32, "F": 32,
}
_PIL_CHANNELS = {"1": 1, "L": 1, "P": 3, "RGB": 3, "RGBA": 4, "LA": 2, "CMYK": 4, "YCbCr": 3,
                 "RGBX": 4, "I;16": 1, "I;16B": 1, "I;16L": 1, "I;16N": 1, "I": 1, "F": 1}


def _png_ihdr_bit_depth(fh: BinaryIO, start: int) -> int | None:
    fh.seek(start)
    head = fh.read(33)
    if len(head) >= 25 and head[12:16] == b"IHDR":
        return int(head[24])
    return None


def _pil_open(fh: BinaryIO, fmt: str) -> Image.Image:
    try:
        img = Image.open(fh, formats=[fmt])
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"Image is too large to be processed safely ({exc}).") from exc
    except Exception as exc:
        raise ImageReadError(f"Cannot read this {fmt} file: it is corrupt or not a valid image ({exc}).") from exc
    return img


def _pil_info(img: Image.Image, fmt: str, png_bits: int | None) -> ImageInfo:
    mode = img.mode
    bits = _PIL_BITS.get(mode, 8)
    if fmt == "PNG" and png_bits == 16:
        bits = 16
    channels = _PIL_CHANNELS.get(mode, len(img.getbands()))
    if mode == "P" and "transparency" in img.info:
        channels = 4
    pixel_um = None
    dpi = img.info.get("dpi")
    # PNG pHYs in metres is exposed by Pillow as dpi; only trust plausible microscopy values.
    if dpi and dpi[0]:
        um = 25400.0 / float(dpi[0])
        if 0 < um <= _MAX_PLAUSIBLE_PIXEL_UM:
            pixel_um = um
    width, height = int(img.width), int(img.height)
    if _exif_orientation(img, fmt) >= 5:  # shown turned a quarter: as wide as it is stored tall
        width, height = height, width
    return ImageInfo(width=width, height=height, bit_depth=bits, channels=channels,
                     pages=int(getattr(img, "n_frames", 1) or 1), pixel_size_um=pixel_um, format=fmt)


def _exif_orientation(img: Image.Image, fmt: str) -> int:
    """The EXIF orientation (1-8) of a JPEG or PNG, which browsers apply when they show it (a
    camera held on its side writes 6 or 8); 1 for the other formats (the viewer shows a TIFF as
    ``read_image`` decodes it) and for none or a bad one."""
    if fmt not in ("JPEG", "PNG"):
        return 1
    try:
        orientation = int(img.getexif().get(0x0112, 1))
    except Exception:
        return 1
    return orientation if 1 <= orientation <= 8 else 1


def _pil_to_array(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode == "1":
        return np.asarray(img.convert("L"))
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode in ("CMYK", "YCbCr", "RGBX"):
        img = img.convert("RGB")
    elif mode == "LA":
        img = img.convert("L")
    elif mode.startswith("I;16"):
        arr = np.asarray(img)
        return arr.astype(np.uint16, copy=False)
    elif mode == "I":
        return np.asarray(img).astype(np.float32)
    arr = np.asarray(img)
    if arr.dtype != np.uint8 and arr.dtype != np.float32:
        arr = arr.astype(np.float32)
    return arr


# --------------------------------------------------------------------------- TIFF


def _tiff_pixel_size(tif, page) -> float | None:
    try:
        if getattr(tif, "is_ome", False) and tif.ome_metadata:
            m = re.search(r'PhysicalSizeX="([0-9.eE+-]+)"', tif.ome_metadata)
            if m:
                unit = re.search(r'PhysicalSizeXUnit="([^"]+)"', tif.ome_metadata)
                val = float(m.group(1))
                factor = {"nm": 1e-3, "mm": 1e3, "cm": 1e4, "m": 1e6}.get(unit.group(1) if unit else "µm", 1.0)
                val *= factor
                if 0 < val <= _MAX_PLAUSIBLE_PIXEL_UM * 1e3:
                    return val
        tags = page.tags
        xres = tags.get("XResolution")
        if xres is None:
            return None
        num, den = xres.value if isinstance(xres.value, tuple) else (xres.value, 1)
        if not num or not den:
            return None
        px_per_unit = float(num) / float(den)
        unit_tag = tags.get("ResolutionUnit")
        unit = int(unit_tag.value) if unit_tag is not None else 2
        ij = getattr(tif, "imagej_metadata", None) or {}
        ij_unit = str(ij.get("unit", "")).lower() if ij else ""
        if ij_unit in ("micron", "um", "µm", "\\u00b5m", "microns"):
            return 1.0 / px_per_unit
        if ij_unit in ("nm", "nanometer"):
            return 1e-3 / px_per_unit
        if ij_unit in ("mm", "millimeter"):
            return 1e3 / px_per_unit
        if unit == 3:  # centimetre
            um = 1e4 / px_per_unit
        elif unit == 2:  # inch
            um = 25400.0 / px_per_unit
        else:
            return None
        return um if 0 < um <= _MAX_PLAUSIBLE_PIXEL_UM else None
    except Exception:
        return None


def _tiff_open(fh: BinaryIO):
    import tifffile

    try:
        tif = tifffile.TiffFile(fh)
        if len(tif.pages) == 0:
            raise ImageReadError("This TIFF file contains no image.")
        return tif
    except ImageReadError:
        raise
    except Exception as exc:
        raise ImageReadError(f"Cannot read this TIFF file: it is corrupt or not a valid image ({exc}).") from exc


def _tiff_info(tif) -> ImageInfo:
    from tifffile import PHOTOMETRIC

    page = tif.pages.first if hasattr(tif.pages, "first") else tif.pages[0]
    bps = page.bitspersample
    bits = int(bps[0] if isinstance(bps, tuple) else bps)
    bits = 8 if bits <= 8 else 16 if bits <= 16 else 32
    channels = int(page.samplesperpixel)
    photometric = _tiff_photometric(page)
    if photometric in (PHOTOMETRIC.PALETTE, PHOTOMETRIC.SEPARATED):  # read as RGB
        channels = 3
    # pages: a real count without decoding pixels
    try:
        n_pages = len(tif.pages)
    except Exception:  # pragma: no cover
        n_pages = 1
    return ImageInfo(width=int(page.imagewidth), height=int(page.imagelength), bit_depth=bits,
                     channels=channels, pages=int(n_pages), pixel_size_um=_tiff_pixel_size(tif, page),
                     format="TIFF")


def _tiff_photometric(page) -> int:
    """The page's PhotometricInterpretation; refused (``ImageReadError``) unless it is one that
    ``_tiff_array`` turns into grey or RGB pixels: min-is-white or min-is-black grey, RGB,
    palette, CMYK, JPEG YCbCr (tifffile decodes it to RGB)."""
    from tifffile import COMPRESSION, PHOTOMETRIC

    photometric = int(page.photometric)
    if photometric in (PHOTOMETRIC.MINISWHITE, PHOTOMETRIC.MINISBLACK, PHOTOMETRIC.RGB, PHOTOMETRIC.PALETTE) or (
            photometric == PHOTOMETRIC.SEPARATED and int(page.samplesperpixel) >= 4) or (
            photometric == PHOTOMETRIC.YCBCR and int(page.compression) in (COMPRESSION.JPEG, COMPRESSION.OJPEG)):
        return photometric
    raise ImageReadError(f"This TIFF's colour space is not supported (PhotometricInterpretation "
                         f"{photometric}); save it as greyscale or RGB.")


def _tiff_array(tif) -> np.ndarray:
    from tifffile import PHOTOMETRIC

    page = tif.pages.first if hasattr(tif.pages, "first") else tif.pages[0]
    photometric = _tiff_photometric(page)
    arr = np.asarray(page.asarray())
    if photometric == PHOTOMETRIC.PALETTE and page.colormap is not None:  # the palette's colours, not its indices
        arr = np.moveaxis(np.asarray(page.colormap)[:, arr], 0, -1)
    # Squeeze leading singleton axes (e.g. 1xHxW) and move a planar sample axis last.
    while arr.ndim > 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 3 and arr.shape[0] in (2, 3, 4) and arr.shape[-1] not in (2, 3, 4):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[-1] == 2:  # grey + alpha
        arr = arr[..., 0]
    if arr.ndim not in (2, 3):
        raise ImageReadError(f"Unsupported TIFF layout with shape {arr.shape}.")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype == np.uint8 or arr.dtype == np.uint16 or arr.dtype == np.float32:
        pass
    elif arr.dtype == np.int8:
        arr = (arr.astype(np.int16) + 128).astype(np.uint8)
    elif arr.dtype == np.int16:
        arr = (arr.astype(np.int32) + 32768).astype(np.uint16)
    else:
        arr = arr.astype(np.float32)
    if photometric == PHOTOMETRIC.SEPARATED and arr.ndim == 3:  # CMYK inks -> RGB light
        arr = _cmyk_to_rgb(arr)
    elif photometric == PHOTOMETRIC.MINISWHITE:  # 0 is white: the same image with 0 black
        arr = np.iinfo(arr.dtype).max - arr if np.issubdtype(arr.dtype, np.integer) else -arr
    return np.ascontiguousarray(arr)


def _cmyk_to_rgb(arr: np.ndarray) -> np.ndarray:
    """RGB (same dtype) of CMYK samples (the first four; any extra ones, alpha, dropped)."""
    top = float(np.iinfo(arr.dtype).max) if np.issubdtype(arr.dtype, np.integer) else 1.0
    ink = arr[..., :4].astype(np.float32) / top
    rgb = (1.0 - ink[..., :3]) * (1.0 - ink[..., 3:4]) * top
    return np.round(rgb).astype(arr.dtype) if np.issubdtype(arr.dtype, np.integer) else rgb


# --------------------------------------------------------------------------- public API


def probe(source: Source) -> ImageInfo:
    """Header-only inspection: size, bit depth, channels, pages, pixel size, format.

    Never decodes pixel data. Raises :class:`ImageReadError` for non-images (SVG, HTML,
    text, empty files) and unsupported formats.
    """
    with _Opened(source) as fh:
        start = fh.tell()
        fmt = _sniff(fh.read(2048))
        fh.seek(start)
        if fmt == "TIFF":
            tif = _tiff_open(fh)
            try:
                return _tiff_info(tif)
            except ImageReadError:
                raise
            except Exception as exc:
                raise ImageReadError(f"Cannot read this TIFF header ({exc}).") from exc
            finally:
                tif.close()
        png_bits = _png_ihdr_bit_depth(fh, start) if fmt == "PNG" else None
        fh.seek(start)
        img = _pil_open(fh, fmt)
        try:
            info = _pil_info(img, fmt, png_bits)
        finally:
            _close(img, fh, source)
        if info.width <= 0 or info.height <= 0:
            raise ImageReadError("The image has no pixels.")
        return info


def read_image(source: Source, *, max_pixels: int | None = None) -> tuple[np.ndarray, ImageInfo]:
    """Decode an image fully. Returns (array, info).

    The array keeps its native dtype (uint8, uint16 or float32) with shape HxW or HxWxC (C=3 or
    4). Only the first page of a multi-page TIFF is decoded (``info.pages`` counts them).
    ``max_pixels`` is checked from the header, before any decoding.
    """
    with _Opened(source) as fh:
        start = fh.tell()
        fmt = _sniff(fh.read(2048))
        fh.seek(start)
        if fmt == "TIFF":
            tif = _tiff_open(fh)
            try:
                info = _tiff_info(tif)
                _check_pixels(info, max_pixels)
                try:
                    arr = _tiff_array(tif)
                except ImageReadError:
                    raise
                except Exception as exc:
                    raise ImageReadError(f"Cannot decode this TIFF file: it is truncated or corrupt ({exc}).") from exc
            finally:
                tif.close()
            return arr, info
        png_bits = _png_ihdr_bit_depth(fh, start) if fmt == "PNG" else None
        fh.seek(start)
        img = _pil_open(fh, fmt)
        try:
            info = _pil_info(img, fmt, png_bits)
            _check_pixels(info, max_pixels)
            try:
                img.load()  # full decode: truncated data raises here
                # the pixels as a browser shows them: the viewer draws outlines over that
                shown = ImageOps.exif_transpose(img) if _exif_orientation(img, fmt) != 1 else img
                arr = _pil_to_array(shown)
            except ImageReadError:
                raise
            except Exception as exc:
                raise ImageReadError(f"Cannot decode this {fmt} file: it is truncated or corrupt ({exc}).") from exc
        finally:
            _close(img, fh, source)
        if arr.ndim == 2 and info.bit_depth == 16 and arr.dtype == np.uint8:  # pragma: no cover
            info = ImageInfo(info.width, info.height, 8, info.channels, info.pages, info.pixel_size_um, info.format)
        return np.ascontiguousarray(arr), info


def _close(img, fh, source) -> None:
    """Close a Pillow image without closing a caller's file object."""
    if hasattr(source, "read"):
        return  # Image.close() would close the caller's stream; the image is dropped instead
    with contextlib.suppress(OSError, ValueError):
        img.close()


def _check_pixels(info: ImageInfo, max_pixels: int | None) -> None:
    if info.width <= 0 or info.height <= 0:
        raise ImageReadError("The image has no pixels.")
    if max_pixels is not None and info.width * info.height > max_pixels:
        raise ImageReadError(
            f"Image is too large: {info.width} x {info.height} = {info.width * info.height:,} pixels "
            f"(limit {max_pixels:,})."
        )


def to_grey(array: np.ndarray) -> np.ndarray:
    """Greyscale float32 copy of a decoded array (luminance for RGB/RGBA), in row chunks."""
    a = np.asarray(array)
    if a.ndim == 3:
        if a.shape[-1] >= 3:
            h = a.shape[0]
            out = np.empty(a.shape[:2], np.float32)
            w = np.array([0.299, 0.587, 0.114], np.float32)
            step = max(1, (1 << 21) // max(1, a.shape[1]))  # ~2 M pixels per chunk: bounded memory
            for y in range(0, h, step):
                out[y:y + step] = a[y:y + step, :, :3].astype(np.float32) @ w
            return out
        a = a[..., 0]
    if a.ndim != 2:
        raise ValueError(f"Expected HxW or HxWxC array, got shape {a.shape}")
    return a.astype(np.float32)


# Burned-in text, scale bars and label boxes: pieces of the image's exact darkest (or brightest)
# grey, OVERLAY_MIN_PIECE sample pixels or more, whose rim is sharp all round (OVERLAY_MIN_SHARP
# of its pixels have a grey at least OVERLAY_JUMP of the way to the median, and OVERLAY_MIN_JUMP
# of the way to the other extreme, within OVERLAY_REACH sample pixels: not the clipped centres
# of bright cells on a bright field), and thin (a half-width of OVERLAY_MAX_HALF_WIDTH of the
# short side at most: strokes of text, scale bars) or rectangles (OVERLAY_MIN_EXTENT of their
# bounding box, holes filled: label boxes), not a flat disc, as a spheroid clipped to black may
# be. When they cover OVERLAY_MIN_SHARE of the image or more, they and their anti-aliased rims
# are left out of the percentiles: black text would otherwise set the black point, and every
# spheroid would look paler than it is. Dark cores clipped to black fade into their spheroid's
# grey, so their rims are not sharp and they stay in. In a colour image of a grey scene, pieces
# whose channels differ by OVERLAY_MIN_CHROMA of the grey range or more (a yellow scale bar, a
# red time stamp), thin or rectangular alike, are overlays too, whatever their grey, unless
# more than OVERLAY_MAX_COLOURED of the image is that colourful (a colour scene).
OVERLAY_JUMP = 0.5
OVERLAY_MIN_JUMP = 0.25
OVERLAY_REACH = 3
OVERLAY_MIN_PIECE = 6
OVERLAY_MIN_SHARP = 0.9
OVERLAY_MIN_SHARE = 0.0005
OVERLAY_MAX_HALF_WIDTH = 0.01
OVERLAY_MIN_EXTENT = 0.9
OVERLAY_MIN_CHROMA = 0.3
OVERLAY_MAX_COLOURED = 0.05


# The field's dark outside: corners blacked by a microscope's round field stop, the dark
# outside of a well seen whole. Pieces of the image darker than FIELD_LEVEL of the way from the
# black point to the median that touch the image's border and cover FIELD_MIN_SHARE of it or
# more, of which FIELD_MIN_OUTSIDE or more lies beyond the circle their inner edge follows (a
# radius of FIELD_MIN_RADIUS x the short side or more; :func:`_round_edge`), are left out of the
# percentiles with the soft rim of that edge (FIELD_RIM x the short side inside it): they would
# set the black point, and every spheroid in the field would look paler than it is. The engine
# reports nothing that lies mostly there. A spheroid cut by the border lies inside the circle
# its edge follows, and stays in.
FIELD_LEVEL = 0.25
FIELD_MIN_SHARE = 0.0025
FIELD_MIN_RADIUS = 0.3
FIELD_EDGE_PX = 1.5
FIELD_TRIALS = 64
FIELD_REFITS = 3
FIELD_MIN_OUTSIDE = 0.5
FIELD_ON_EDGE = 0.15
FIELD_NOT_BEYOND = 0.9
FIELD_RIM = 0.02


def _sample_step(h: int, w: int) -> int:
    """Stride of the percentiles' subsample: at most ~512k pixels (fast on 4000x4000 images)."""
    return max(1, int(np.ceil(np.sqrt(h * w / 524288.0))))


def robust_range(grey: np.ndarray, low: float = 0.5, high: float = 99.5,
                 coloured: np.ndarray | None = None) -> tuple[float, float, np.ndarray | None, np.ndarray | None]:
    """``low`` / ``high`` percentiles of a finite ``grey``'s strided subsample (at most ~512k
    pixels: fast on 4000x4000 images) with its burned-in overlays (``OVERLAY_*``: dark ones from
    the low percentile, bright ones from the high one) and the dark outside of its field
    (``FIELD_*``) left out, and the subsample's masks of its dark overlays and of that outside
    (each None when there is none). ``coloured``, the subsample's coloured overlays
    (:func:`coloured_overlays`), are left out of both percentiles and counted with the dark ones."""
    step = _sample_step(*grey.shape)
    sample = grey[::step, ::step]
    dark, bright = burned_in(sample, darkest=True), burned_in(sample, darkest=False)
    if coloured is not None:
        dark = coloured if dark is None else dark | coloured
        bright = coloured if bright is None else bright | coloured
    if dark is None and bright is None:
        lo, hi = np.percentile(sample, [low, high])
    else:
        lo, hi = _percentile_without(sample, dark, low), _percentile_without(sample, bright, high)
    outside = outside_field(sample, float(lo), dark)
    if outside is not None:
        lo = _percentile_without(sample, outside if dark is None else outside | dark, low)
        hi = _percentile_without(sample, outside if bright is None else outside | bright, high)
    return float(lo), float(hi), dark, outside


def _percentile_without(sample: np.ndarray, left_out: np.ndarray | None, q: float) -> float:
    """The ``q`` percentile of ``sample`` without ``left_out``; of all of it when that would
    leave nothing."""
    kept = sample if left_out is None else sample[~left_out]
    return float(np.percentile(kept if kept.size else sample, q))


def outside_field(grey: np.ndarray, black: float, overlays: np.ndarray | None = None) -> np.ndarray | None:
    """Pixels of ``grey`` beyond a round (or straight) field edge, with its soft rim: the dark
    pieces along the border (darker than ``FIELD_LEVEL`` of the way from ``black`` to the
    median; ``overlays`` not counted) that lie beyond the circle they follow (``FIELD_*``);
    None when there are none."""
    h, w = grey.shape
    level = black + FIELD_LEVEL * (float(np.median(grey)) - black)
    below = grey < level
    if overlays is not None:
        below &= ~overlays
    border = np.concatenate([below[0], below[-1], below[:, 0], below[:, -1]])
    least = FIELD_MIN_SHARE * grey.size
    if border.sum() < 2 or below.sum() < least:
        return None  # most images: nothing dark along the border
    from scipy import ndimage

    labels, n = ndimage.label(below, structure=np.ones((3, 3), bool))
    size = np.bincount(labels.ravel(), minlength=n + 1)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    boxes = ndimage.find_objects(labels)
    pieces = []  # (box, piece, its inner edge's points: beside a brighter pixel, not the border)
    for k in edge[edge > 0]:
        if size[k] >= least:
            box = boxes[k - 1]
            piece = labels[box] == k
            ys, xs = np.nonzero(piece & ~ndimage.binary_erosion(piece, border_value=1))
            pieces.append((box, piece, xs + box[1].start, ys + box[0].start))
    if not pieces:
        return None
    least_radius = FIELD_MIN_RADIUS * min(h, w)
    # the corners of one field stop follow one circle: fitted to all of them at once first
    shared = _round_edge(np.concatenate([p[2] for p in pieces]), np.concatenate([p[3] for p in pieces]),
                         least_radius) if len(pieces) > 1 else None
    outside = np.zeros(grey.shape, bool)
    rim = FIELD_RIM * min(h, w)
    for box, piece, xs, ys in pieces:
        circle = shared or _round_edge(xs, ys, least_radius)
        if circle is None:
            continue
        cx, cy, radius = circle
        py, px = np.nonzero(piece)
        if np.mean(np.hypot(px + box[1].start - cx, py + box[0].start - cy) >= radius) < FIELD_MIN_OUTSIDE:
            continue  # a dark piece inside the circle its edge follows: a spheroid cut by the border
        # beyond the circle, with the soft rim of the edge (greys between the outside's and the
        # field's), around the piece; what the piece holds further inside stays in
        rows = slice(max(0, int(box[0].start - rim)), min(h, int(np.ceil(box[0].stop + rim))))
        cols = slice(max(0, int(box[1].start - rim)), min(w, int(np.ceil(box[1].stop + rim))))
        yy, xx = np.ogrid[rows, cols]
        outside[rows, cols] |= np.hypot(xx - cx, yy - cy) >= radius - rim
    return outside if outside.any() else None


def _round_edge(xs: np.ndarray, ys: np.ndarray, least_radius: float) -> tuple[float, float, float] | None:
    """``(x, y, radius)`` of a circle of ``least_radius`` or more that at least
    ``FIELD_ON_EDGE`` of the points follow within ``FIELD_EDGE_PX``, the others lying inside
    it (``FIELD_NOT_BEYOND`` of all on it or inside: a bubble or spheroid touching a field's
    edge from inside), or None. Found by consensus among the circles through seeded triples of
    the points, then fitted by least squares to those that follow it (``FIELD_REFITS`` times)."""
    x, y = xs.astype(np.float64), ys.astype(np.float64)
    if x.size < 8:
        return None

    def off(cx, cy, radius):
        return np.hypot(x[..., None] - cx, y[..., None] - cy) - radius

    i, j, k = np.random.default_rng(0).integers(0, x.size, (3, FIELD_TRIALS))
    ax, ay, bx, by, qx, qy = x[i], y[i], x[j], y[j], x[k], y[k]
    d = 2 * (ax * (by - qy) + bx * (qy - ay) + qx * (ay - by))
    with np.errstate(divide="ignore", invalid="ignore"):  # collinear triples: no circle
        cx = ((ax * ax + ay * ay) * (by - qy) + (bx * bx + by * by) * (qy - ay) + (qx * qx + qy * qy) * (ay - by)) / d
        cy = ((ax * ax + ay * ay) * (qx - bx) + (bx * bx + by * by) * (ax - qx) + (qx * qx + qy * qy) * (bx - ax)) / d
        radius = np.hypot(ax - cx, ay - cy)
        votes = (np.abs(off(cx, cy, radius)) <= FIELD_EDGE_PX).sum(axis=0) * (radius >= least_radius)
    best = int(np.argmax(votes))
    if votes[best] < 3:
        return None
    cx, cy, radius = cx[best], cy[best], radius[best]
    for _ in range(FIELD_REFITS):
        near = np.abs(off(cx, cy, radius))[:, 0] <= FIELD_EDGE_PX
        if near.sum() < 3:
            return None
        a, b, c = np.linalg.lstsq(np.stack([x[near], y[near], np.ones(near.sum())], axis=1),
                                  x[near] ** 2 + y[near] ** 2, rcond=None)[0]
        cx, cy = a / 2, b / 2
        radius = float(np.sqrt(max(c + cx * cx + cy * cy, 0.0)))
    gap = off(cx, cy, radius)[:, 0]
    if radius < least_radius or np.mean(np.abs(gap) <= FIELD_EDGE_PX) < FIELD_ON_EDGE:
        return None
    if np.mean(gap <= FIELD_EDGE_PX) < FIELD_NOT_BEYOND:
        return None
    return float(cx), float(cy), radius


def _window_max(a: np.ndarray, reach: int) -> np.ndarray:
    """Maximum over the (2 reach + 1)-square window around each pixel (edges replicated): SciPy's
    ``maximum_filter`` in shifted views, about 9 x as fast, for it runs on most real images."""
    padded = np.pad(a, reach, mode="edge")
    h, w = a.shape
    rows = padded[: h, :].copy()
    for shift in range(1, 2 * reach + 1):
        np.maximum(rows, padded[shift: shift + h, :], out=rows)
    out = rows[:, : w].copy()
    for shift in range(1, 2 * reach + 1):
        np.maximum(out, rows[:, shift: shift + w], out=out)
    return out


def burned_in(grey: np.ndarray, darkest: bool = True) -> np.ndarray | None:
    """Pixels of burned-in text and scale bars in ``grey``'s darkest (or brightest) grey, with
    their rims (``OVERLAY_*``), or None when they cover less than ``OVERLAY_MIN_SHARE`` of it."""
    least = OVERLAY_MIN_SHARE * grey.size
    g = grey if darkest else -grey
    extreme = float(g.min())
    at = g == extreme
    if at.sum() < least:
        return None  # most images: the median is not needed
    middle = float(np.median(g))
    if not middle > extreme:
        return None
    jump = max(OVERLAY_JUMP * (middle - extreme), OVERLAY_MIN_JUMP * (float(g.max()) - extreme))
    sharp = at & (_window_max(g, OVERLAY_REACH) - extreme > jump)
    if sharp.sum() < least:
        return None
    return _strokes(at, sharp)


def coloured_overlays(rgb: np.ndarray, grey: np.ndarray) -> np.ndarray | None:
    """Pixels of coloured burned-in text, scale bars and label boxes (a yellow scale bar, a red
    time stamp) in a colour image of a grey scene: pieces whose channels differ by
    ``OVERLAY_MIN_CHROMA`` of ``grey``'s range or more, thin or rectangular as ``OVERLAY_*``
    asks, with their rims; None when there are none, or the image is grey."""
    if rgb.ndim != 3 or rgb.shape[-1] < 3:
        return None
    span = float(grey.max()) - float(grey.min())
    if not span > 0:
        return None
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]  # channel by channel: 10 x as fast as max(axis=-1)
    chroma = np.maximum(np.maximum(r, g), b).astype(np.float32) - np.minimum(np.minimum(r, g), b)
    at = chroma >= OVERLAY_MIN_CHROMA * span
    if not OVERLAY_MIN_SHARE * grey.size <= at.sum() <= OVERLAY_MAX_COLOURED * grey.size:
        return None  # no coloured pieces, or a colour scene: a photograph, a stained section
    return _strokes(at, at)  # its colour, not a sharp rim, tells a coloured piece


def _strokes(at: np.ndarray, sharp: np.ndarray) -> np.ndarray | None:
    """The pieces of ``at`` of ``OVERLAY_MIN_PIECE`` pixels or more whose rim lies in ``sharp``
    (``OVERLAY_MIN_SHARP`` of it) and that are thin strokes or rectangles, not a flat disc,
    grown by a pixel; None when they cover less than ``OVERLAY_MIN_SHARE`` of the image."""
    from scipy import ndimage  # only for images that hold such strokes

    square = np.ones((3, 3), bool)
    labels, n = ndimage.label(at, structure=square)
    size = np.bincount(labels.ravel(), minlength=n + 1)
    rim = at & ~ndimage.binary_erosion(at, structure=square, border_value=1)
    rim_size = np.bincount(labels[rim], minlength=n + 1)
    sharp_rim = np.bincount(labels[rim & sharp], minlength=n + 1)
    strokes = (size >= OVERLAY_MIN_PIECE) & (sharp_rim >= OVERLAY_MIN_SHARP * rim_size)
    strokes[0] = False
    if strokes.any():  # thin strokes or rectangles, not a flat disc of the darkest grey
        half_width = ndimage.maximum(ndimage.distance_transform_edt(at), labels, np.arange(n + 1))
        thin = np.asarray(half_width) <= OVERLAY_MAX_HALF_WIDTH * min(at.shape)
        boxes = ndimage.find_objects(labels)
        for k in np.flatnonzero(strokes & ~thin):
            strokes[k] = ndimage.binary_fill_holes(labels[boxes[k - 1]] == k).mean() >= OVERLAY_MIN_EXTENT
    mask = strokes[labels]
    if mask.sum() < OVERLAY_MIN_SHARE * at.size:
        return None
    return ndimage.binary_dilation(mask, structure=square)


def normalize(array: np.ndarray, low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """Greyscale + robust percentile stretch -> float32 HxW in [0, 1].

    A 16-bit image that uses only a narrow band of its range comes out like an 8-bit one; a
    constant image comes out all zeros.
    """
    return normalize_with_masks(array, low, high).grey


class Normalized(NamedTuple):
    """:func:`normalize_with_masks`'s result: the stretched ``grey``, and the full-size masks of
    its dark burned-in ``overlays`` (``OVERLAY_*``) and of the field's dark ``outside``
    (``FIELD_*``), each None when there is none."""

    grey: np.ndarray
    overlays: np.ndarray | None
    outside: np.ndarray | None


def _full_size(mask: np.ndarray, shape: tuple[int, int], step: int) -> np.ndarray:
    """A mask of the percentiles' subsample (stride ``step``) at the image's ``shape``."""
    return np.repeat(np.repeat(mask, step, axis=0), step, axis=1)[: shape[0], : shape[1]]


def normalize_with_masks(array: np.ndarray, low: float = 0.5, high: float = 99.5) -> Normalized:
    """:func:`normalize`, with the masks of what its percentiles left out: the image's dark and
    coloured burned-in overlays (grown by the subsample's stride; bright ones are not masked,
    the clipped centres of bright halos come too close to them) and the dark outside of its
    field."""
    grey = to_grey(array)
    if not np.all(np.isfinite(grey)):
        grey = np.nan_to_num(grey, nan=0.0, posinf=0.0, neginf=0.0)
    step = _sample_step(*grey.shape)
    coloured = coloured_overlays(np.asarray(array)[::step, ::step], grey[::step, ::step])
    lo, hi, dark, outside = robust_range(grey, low, high, coloured)
    overlays = None
    if dark is not None:
        from scipy import ndimage

        overlays = ndimage.binary_dilation(_full_size(dark, grey.shape, step), structure=np.ones((3, 3), bool),
                                           iterations=step)
    if outside is not None:
        outside = _full_size(outside, grey.shape, step)
    if not hi > lo:
        lo, hi = float(grey.min()), float(grey.max())
        if not hi > lo:
            return Normalized(np.zeros(grey.shape, np.float32), overlays, outside)
    out = grey  # a fresh float32 array owned here: stretch in place
    out -= np.float32(lo)
    out *= np.float32(1.0 / (hi - lo))
    np.clip(out, 0.0, 1.0, out=out)
    return Normalized(out.astype(np.float32, copy=False), overlays, outside)
