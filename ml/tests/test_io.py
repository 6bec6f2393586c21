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


def _tiff(a, **kw) -> bytes:
    b = io.BytesIO()
    tifffile.imwrite(b, a, **kw)
    return b.getvalue()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_min_is_white_tiff_is_read_with_dark_objects_dark(dtype):
    """ImageJ saves an image shown with an inverting LUT as a min-is-white TIFF: its stored
    values are the inverse of what is seen. Read as seen: the spheroid dark on a light field."""
    s = _scene()
    top = 1.0 if dtype == np.float32 else np.iinfo(dtype).max
    seen = ((0.8 - 0.6 * s) * top).astype(dtype)
    stored = (top - seen).astype(dtype)
    arr, info = read_image(_tiff(stored, photometric="miniswhite"))
    assert info.channels == 1 and arr.dtype == dtype
    assert np.allclose(normalize(arr), normalize(seen), atol=1e-6)
    assert arr[32, 40] < arr[2, 2]  # the object stays dark
    bilevel, _ = read_image(_tiff(s > 0, photometric="miniswhite"))  # 1 is black
    assert bilevel.dtype == np.uint8 and bilevel[32, 40] == 0 and bilevel[2, 2] == 255


def test_palette_tiff_is_read_as_its_colours_not_its_indices():
    s = _scene()
    grey = (200 - 150 * s).astype(np.uint8)
    order = np.random.default_rng(0).permutation(256)  # index i shows grey order[i]
    indices = np.argsort(order)[grey].astype(np.uint8)
    colormap = np.repeat(order[None].astype(np.uint16) * 257, 3, axis=0)
    data = _tiff(indices, photometric="palette", colormap=colormap)
    arr, info = read_image(data)
    assert info.channels == 3 and probe(data).channels == 3 and arr.shape == grey.shape + (3,)
    assert np.array_equal(arr[..., 0], grey.astype(np.uint16) * 257)


def test_cmyk_tiff_is_read_as_rgb():
    s = _scene()
    cmyk = np.zeros(s.shape + (4,), np.uint8)
    cmyk[..., 3] = (50 + 150 * s).astype(np.uint8)  # black ink on the object
    cmyk[..., 0] = 255 * (1 - s).astype(np.uint8)  # cyan around it
    arr, info = read_image(_tiff(cmyk, photometric="separated"))
    assert info.channels == 3 and arr.shape == s.shape + (3,) and arr.dtype == np.uint8
    assert tuple(arr[32, 40]) == (55, 55, 55) and tuple(arr[2, 2]) == (0, 205, 205)


def test_tiff_in_an_unread_colour_space_is_refused():
    data = _tiff(np.zeros((8, 9, 3), np.uint8), photometric="cielab")
    for read in (read_image, probe):
        with pytest.raises(ImageReadError, match="colour space is not supported"):
            read(data)


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


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_or_png_is_read_turned_as_its_exif_orientation_shows_it(orientation, fmt):
    """A camera held on its side writes the pixels as the sensor has them and an EXIF
    orientation; browsers show a JPEG or PNG turned by it (Chromium checked), and the viewer
    draws the outlines over that: the pixels, width and height are those shown
    (``ImageOps.exif_transpose``)."""
    from PIL import ImageOps

    stored = np.zeros((40, 64, 3), np.uint8)
    stored[5:15, 10:30] = 200  # a mark off every symmetry axis
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = orientation
    b = io.BytesIO()
    img.save(b, fmt, exif=exif.tobytes())
    shown = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(b.getvalue()))))
    arr, info = read_image(b.getvalue())
    assert arr.shape == shown.shape and np.array_equal(arr, shown)
    assert (info.height, info.width) == arr.shape[:2] == ((64, 40) if orientation >= 5 else (40, 64))
    assert (probe(b.getvalue()).width, probe(b.getvalue()).height) == (info.width, info.height)
    raw = np.asarray(Image.open(io.BytesIO(b.getvalue())))  # the stored grid, not turned
    assert np.array_equal(arr, raw) == (orientation == 1)


def _field_with_spheroid(seed=0, size=400, core=60.0):
    """A noisy bright field (grey 200) with a soft-edged dark spheroid whose middle is ``core``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2)
    depth = np.clip((size * 0.2 - r) / (size * 0.08), 0, 1)  # fades over 0.08 x the size
    return np.clip(200 - (200 - core) * depth + rng.normal(0, 3, (size, size)), 0, 255).astype(np.uint8)


def _burn_in(img, grey):
    import cv2

    out = img.copy()
    h, w = out.shape
    cv2.rectangle(out, (w - 130, h - 24), (w - 20, h - 16), grey, -1)
    cv2.putText(out, "200 um", (w - 130, h - 32), cv2.FONT_HERSHEY_SIMPLEX, 0.6, grey, 2, cv2.LINE_AA)
    cv2.putText(out, "10x t=24h", (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, grey, 2, cv2.LINE_AA)
    return out


def test_burned_in_text_and_scale_bar_set_neither_end_of_the_stretch(monkeypatch):
    """Black text and a black scale bar (about 1 % of the pixels) would be the black point, and
    the spheroid would look paler than it is; they are left out of the percentiles. So is white
    text on a grey field at the other end."""
    import ml.io as mio

    plain = _field_with_spheroid()
    lo, hi = mio.robust_range(plain.astype(np.float32))[:2]
    for grey in (0, 255):
        burned = _burn_in(plain, grey)
        assert mio.burned_in(burned.astype(np.float32), darkest=grey == 0) is not None
        assert mio.robust_range(burned.astype(np.float32))[:2] == pytest.approx((lo, hi), abs=2)
        clean = burned == plain
        assert np.abs(normalize(burned) - normalize(plain))[clean].max() < 0.02
    assert mio.normalize_with_masks(plain)[1] is None
    stretched, mask, _ = mio.normalize_with_masks(_burn_in(plain, 0))
    assert np.array_equal(stretched, normalize(_burn_in(plain, 0)))
    assert mask is not None and mask[-24:-15, -130:-19].all() and mask.mean() < 0.05  # the bar, not the field
    assert mio.normalize_with_masks(_burn_in(plain, 255))[1] is None  # white ones are not masked
    monkeypatch.setattr(mio, "OVERLAY_MIN_SHARE", 2.0)  # nothing is ever an overlay
    assert mio.robust_range(_burn_in(plain, 0).astype(np.float32))[0] == 0
    assert mio.robust_range(_burn_in(plain, 255).astype(np.float32))[1] == 255


def test_clipped_dark_cores_and_bright_cell_centres_are_no_overlays():
    """A spheroid's core clipped to black fades into its grey (no sharp rim): it stays the black
    point. Bright cell centres clipped to white on a bright field are no overlay either."""
    import cv2

    from ml.io import burned_in, robust_range

    clipped = _field_with_spheroid(core=-80.0)  # the middle third of the body is at 0
    assert (clipped == 0).mean() > 0.01
    assert burned_in(clipped.astype(np.float32)) is None
    assert robust_range(clipped.astype(np.float32))[0] == 0
    spots = np.zeros((400, 400), np.float32)
    for y, x in np.random.default_rng(1).integers(20, 380, (60, 2)):
        cv2.circle(spots, (int(x), int(y)), 3, 1.0, -1)
    spots = cv2.GaussianBlur(spots, (0, 0), 2.5)
    cells = np.clip(_field_with_spheroid() + 130 * spots / spots.max(), 0, 255)  # centres clipped to white
    assert (cells == 255).mean() > 0.001
    assert burned_in(cells.astype(np.float32), darkest=False) is None
    sharp = cells.copy()
    sharp[spots > 0.5 * spots.max()] = 255  # the same spots, cut out sharp: as white text is
    assert burned_in(sharp.astype(np.float32), darkest=False) is not None


def test_window_max_is_a_maximum_filter_with_edges_replicated():
    from scipy import ndimage

    from ml.io import _window_max

    a = np.random.default_rng(3).random((53, 71)).astype(np.float32)
    for reach in (1, 3):
        assert np.array_equal(_window_max(a, reach), ndimage.maximum_filter(a, size=2 * reach + 1, mode="nearest"))


def test_a_flat_black_disc_is_no_overlay_but_a_black_label_box_is():
    """A spheroid clipped to black with a sharp rim is as flat and sharp as a label box; only
    thin strokes and rectangles are overlays (``OVERLAY_MAX_HALF_WIDTH``, ``OVERLAY_MIN_EXTENT``)."""
    import cv2

    from ml.io import burned_in

    disc = _field_with_spheroid()
    cv2.circle(disc, (100, 100), 40, 0, -1)
    assert burned_in(disc.astype(np.float32)) is None
    box = _field_with_spheroid()
    cv2.rectangle(box, (20, 20), (140, 60), 0, -1)
    cv2.putText(box, "D3 A4", (28, 50), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2)
    found = burned_in(box.astype(np.float32))
    assert found is not None and found[20:61, 20:141].mean() > 0.8


def _field_stop(img, radius=0.62, floor=5.0, centre=None):
    """``img`` seen through a round field stop of ``radius`` x its long side (soft over 1.5 %):
    black outside, with a little noise."""
    h, w = img.shape[:2]
    cy, cx = centre or (h / 2, w / 2)
    d = np.hypot(*np.mgrid[:h, :w] - np.array([cy, cx])[:, None, None])
    inside = np.clip((radius * max(h, w) - d) / (0.015 * max(h, w)) + 0.5, 0, 1)
    dark = floor + np.random.default_rng(5).normal(0, 1.5, (h, w))
    return np.clip(img * inside + dark * (1 - inside), 0, 255).astype(np.uint8)


def test_corners_outside_a_field_stop_or_a_well_set_no_black_point(monkeypatch):
    """Black corners outside a microscope's field stop, and the dark outside of a well, would be
    the black point, and the spheroid would look paler than it is; they are left out of the
    percentiles (``ml.io.FIELD_*``), with the soft rim of their edge, a bubble touching that
    edge or not."""
    import cv2

    import ml.io as mio

    plain = _field_with_spheroid()
    lo, hi = mio.robust_range(plain.astype(np.float32))[:2]
    stopped = _field_stop(plain)
    bubble = stopped.copy()  # a bubble's dark ring touching the stop's edge in one corner
    cv2.circle(bubble, (35, 35), 16, 30, 2)
    well = plain.astype(np.float32)  # the edge of a well across the upper left, its outside dark
    d = np.hypot(*np.mgrid[:400, :400] - np.array([330.0, 330.0])[:, None, None])
    well *= 1 - 0.9 * np.clip((d - 380) / 8, 0, 1)
    for image in (stopped, bubble, well):
        grey = image.astype(np.float32)
        assert mio.robust_range(grey)[:2] == pytest.approx((lo, hi), abs=3)
        outside = mio.outside_field(grey, float(np.percentile(grey, 0.5)))
        assert outside is not None and outside[0, 0] and not outside[200, 200]
        assert not outside[140:260, 140:260].any()  # not the spheroid
        clean = ~outside & (np.abs(image.astype(np.float32) - plain) < 1)
        assert np.abs(normalize(image) - normalize(plain))[clean].max() < 0.03
    masks = mio.normalize_with_masks(stopped)
    assert masks.overlays is None and masks.outside is not None
    assert masks.outside[:20, :20].all() and not masks.outside[100:300, 100:300].any()
    assert mio.normalize_with_masks(plain).outside is None
    monkeypatch.setattr(mio, "FIELD_MIN_SHARE", 2.0)  # nothing is ever outside
    assert mio.robust_range(stopped.astype(np.float32))[0] < 10
    assert mio.robust_range(well)[0] < 0.5 * lo


def test_a_dark_spheroid_cut_by_the_border_is_not_outside_the_field():
    """A dark spheroid cut by the image's border is a dark piece along it too, but it lies inside
    the circle its edge follows: it stays in the percentiles, and is its black point."""
    import cv2

    from ml.io import outside_field, robust_range

    for centre, radius in (((0, 200), 120), ((0, 0), 160), ((200, 0), 60)):
        image = _field_with_spheroid()
        cv2.circle(image, centre, radius, 25, -1)
        image = cv2.GaussianBlur(image, (0, 0), 2)
        grey = image.astype(np.float32)
        assert outside_field(grey, float(np.percentile(grey, 0.5))) is None
        assert robust_range(grey)[0] == pytest.approx(np.percentile(grey, 0.5), abs=1e-3)


def test_coloured_text_and_scale_bar_are_overlays_a_tint_or_a_stained_body_are_not(monkeypatch):
    """A yellow scale bar and green text on a grey scene saved as RGB are left out of the
    percentiles and masked for painting (``OVERLAY_MIN_CHROMA``); a warm tint over the whole
    image and a flat coloured disc (a stained spheroid) are no overlays."""
    import cv2

    import ml.io as mio

    plain = np.repeat(_field_with_spheroid()[..., None], 3, axis=2)
    marked = plain.copy()
    cv2.rectangle(marked, (260, 370), (380, 378), (255, 255, 0), -1)
    cv2.putText(marked, "200 um", (260, 360), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 0), 2, cv2.LINE_AA)
    cv2.putText(marked, "10x t=24h", (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 255, 0), 2, cv2.LINE_AA)
    grey = mio.to_grey(marked)
    found = mio.coloured_overlays(marked, grey)
    assert found is not None and found[370:379, 260:381].all() and found.mean() < 0.05
    assert not found[100:300, 100:300].any()  # not the spheroid
    lo, hi = mio.robust_range(mio.to_grey(plain))[:2]
    assert mio.robust_range(grey, coloured=found)[:2] == pytest.approx((lo, hi), abs=2)
    masks = mio.normalize_with_masks(marked)
    assert masks.overlays is not None and masks.overlays[370:379, 260:381].all()
    clean = (marked == plain).all(axis=2)
    assert np.abs(masks.grey - normalize(plain))[clean].max() < 0.02
    tinted = np.clip(plain * np.array([1.08, 1.0, 0.9]), 0, 255).astype(np.uint8)
    assert mio.coloured_overlays(tinted, mio.to_grey(tinted)) is None
    stained = plain.copy()
    cv2.circle(stained, (200, 200), 70, (150, 60, 70), -1)
    assert mio.coloured_overlays(stained, mio.to_grey(stained)) is None
    assert mio.coloured_overlays(plain[..., 0], mio.to_grey(plain)) is None  # a grey image
    photo = np.random.default_rng(2).integers(0, 256, (60, 80, 3), dtype=np.uint8)  # a colour scene
    assert mio.coloured_overlays(photo, mio.to_grey(photo)) is None
    assert 0 <= normalize(photo).min() < normalize(photo).max() <= 1
    everything = np.ones((60, 80), bool)  # a mask that leaves nothing: the percentiles of all
    assert mio._percentile_without(mio.to_grey(photo), everything, 50) == np.percentile(mio.to_grey(photo), 50)
    monkeypatch.setattr(mio, "OVERLAY_MIN_CHROMA", 99.0)  # nothing is ever coloured enough
    assert mio.normalize_with_masks(marked).overlays is None
    assert mio.robust_range(grey)[1] > hi + 15  # the yellow bar would be the white point
