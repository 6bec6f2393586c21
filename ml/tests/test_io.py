import io
import struct
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image

from ml.io import ImageReadError, normalize, probe, read_image


def _png_bytes(arr, mode=None):
    b = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(b, "PNG") if mode else Image.fromarray(arr).save(b, "PNG")
    return b.getvalue()


def _scene(h=64, w=80):
    yy, xx = np.mgrid[:h, :w]
    return ((xx - w / 2) ** 2 + (yy - h / 2) ** 2 < 15 ** 2).astype(np.float32)


def test_16bit_tiff_narrow_range_normalises_like_8bit():
    s = _scene()
    a8 = (200 - 150 * s).astype(np.uint8)
    a16 = (1200 + 40 * (1 - s)).astype(np.uint16)  # only 41 grey levels of 65536
    b = io.BytesIO()
    tifffile.imwrite(b, a16, resolution=(1 / 0.65, 1 / 0.65), imagej=True, metadata={"unit": "um"})
    arr, info = read_image(b.getvalue())
    assert arr.dtype == np.uint16 and info.bit_depth == 16 and info.format == "TIFF"
    assert info.pixel_size_um == pytest.approx(0.65)
    n16, n8 = normalize(arr), normalize(a8)
    assert n16.dtype == np.float32 and n16.min() == 0 and n16.max() == 1
    assert np.abs(n16 - n8).max() < 1e-6


@pytest.mark.parametrize("compression", ["lzw", "zlib", "packbits", "zstd", "jpeg"])
def test_compressed_tiffs_as_microscope_software_writes_them(compression):
    """ImageJ, Micro-Manager and OpenCV write LZW (or Deflate, ...) compressed TIFFs by default."""
    s = _scene()
    if compression == "jpeg":  # lossy, 8-bit RGB
        a = np.repeat((200 - 150 * s).astype(np.uint8)[..., None], 3, axis=2)
    else:
        a = (1200 + 40 * (1 - s)).astype(np.uint16)
    b = io.BytesIO()
    tifffile.imwrite(b, a, compression=compression)
    arr, info = read_image(b.getvalue())
    assert info.format == "TIFF" and arr.shape == a.shape and arr.dtype == a.dtype
    if compression == "jpeg":
        assert np.abs(arr.astype(int) - a).max() <= 8
    else:
        assert np.array_equal(arr, a)
    assert probe(b.getvalue()).width == a.shape[1]


def test_probe_reads_header_formats():
    rgb = np.zeros((10, 20, 3), np.uint8)
    for fmt in ("PNG", "JPEG", "BMP", "TIFF"):
        b = io.BytesIO()
        Image.fromarray(rgb).save(b, fmt)
        info = probe(b.getvalue())
        assert (info.width, info.height, info.format, info.channels) == (20, 10, fmt, 3)
    b = io.BytesIO()
    tifffile.imwrite(b, np.zeros((3, 8, 9), np.uint16), photometric="minisblack")
    info = probe(io.BytesIO(b.getvalue()))
    assert info.pages == 3 and info.bit_depth == 16
    arr, _ = read_image(b.getvalue())
    assert arr.shape == (8, 9)


def test_truncated_png_raises():
    data = _png_bytes((np.random.default_rng(0).random((200, 200)) * 255).astype(np.uint8))
    with pytest.raises(ImageReadError):
        read_image(data[: len(data) // 2])


@pytest.mark.parametrize("payload", [b"", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
                                     b"<svg width='10'></svg>", b"<!DOCTYPE html><html></html>", b"just text\n",
                                     b"GIF89a....", b"\x00\x01\x02\x03garbage"])
def test_non_images_raise(payload):
    with pytest.raises(ImageReadError):
        probe(payload)
    with pytest.raises(ImageReadError):
        read_image(payload)


def test_bomb_refused_from_header():
    data = bytearray(_png_bytes(np.zeros((8, 8), np.uint8)))
    # rewrite IHDR to claim 12000 x 12000 pixels (with a valid CRC): never decoded
    ihdr = bytes(data[12:29])
    new = b"IHDR" + struct.pack(">II", 12000, 12000) + ihdr[12:]
    data[12:29] = new
    data[29:33] = struct.pack(">I", zlib.crc32(new) & 0xFFFFFFFF)
    info = probe(bytes(data))
    assert info.width == 12000 and info.height == 12000
    with pytest.raises(ImageReadError, match="too large"):
        read_image(bytes(data), max_pixels=50_000_000)
    # beyond Pillow's own bomb limit, even probe refuses
    data[12:29] = b"IHDR" + struct.pack(">II", 100000, 100000) + ihdr[12:]
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    with pytest.raises(ImageReadError, match="too large"):
        probe(bytes(data))


def test_file_object_position_restored(tmp_path):
    p = tmp_path / "x.png"
    p.write_bytes(_png_bytes(np.zeros((5, 7), np.uint8)))
    with open(p, "rb") as fh:
        fh.seek(3)
        assert probe(fh).width == 7
        assert fh.tell() == 3
    assert probe(str(p)).height == 5
