"""Uploads over REST: real images accepted with metadata, a catalogue of bad files refused per file."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from apps.common import events as bus
from apps.images import api
from apps.images.models import Image
from apps.images.tests import factories as f

pytestmark = pytest.mark.django_db


def test_real_spheroid_images_upload_with_correct_metadata(project_with_owner):
    owner, project = project_with_owner
    files = [(p.name, p.read_bytes()) for p in f.DEMO_IMAGES]
    assert len(files) == 3
    response = f.upload(owner, project.id, files)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["accepted"] == 3 and body["rejected"] == 0
    for (name, data), result in zip(files, body["results"], strict=True):
        assert result["outcome"] == "accepted" and result["status"] == 201 and result["filename"] == name
        image = result["image"]
        with PILImage.open(io.BytesIO(data)) as pil:
            assert (image["width"], image["height"]) == pil.size
        assert image["format"] == "PNG" and image["bit_depth"] == 8 and image["channels"] == 3
        assert image["pages"] == 1 and image["file_size"] == len(data)
        assert image["sha256"] == hashlib.sha256(data).hexdigest()
        assert image["original_name"] == name
        # No pixel size in these PNGs: the project's default applies.
        assert image["pixel_size_um"] == 1.5 and image["pixel_size_source"] == "project"
        row = Image.objects.get(id=image["id"])
        assert row.storage_name == f"images/{project.id}/{row.id}.png"  # generated, not the user's name
        with default_storage.open(row.storage_name, "rb") as fh:
            assert fh.read() == data
        with default_storage.open(row.thumbnail_name, "rb") as fh, PILImage.open(fh) as thumb:
            assert max(thumb.size) == 256 and thumb.mode == "L"
    listed = owner.get(f"/api/v1/projects/{project.id}/").json()
    assert listed["image_count"] == 3


def test_formats_and_16_bit_tiff_with_a_narrow_range(project_with_owner):
    owner, project = project_with_owner
    files = [
        ("dim16.tif", f.tiff16_bytes(lo=1000, hi=1200)),
        ("stack.tiff", f.tiff16_bytes(pages=3)),
        ("calibrated.tif", f.tiff16_bytes(resolution_um=0.65, lo=5, hi=40)),
        ("photo.jpg", f.jpeg_bytes()),
        ("scan.bmp", f.bmp_bytes()),
        ("imagej-lzw.tif", f.tiff16_bytes(compression="lzw")),
    ]
    response = f.upload(owner, project.id, files)
    assert response.status_code == 201, response.json()
    images = {r["filename"]: r["image"] for r in response.json()["results"]}
    dim = images["dim16.tif"]
    assert (dim["format"], dim["bit_depth"], dim["channels"], dim["width"], dim["height"]) == ("TIFF", 16, 1, 80, 60)
    assert images["stack.tiff"]["pages"] == 3
    assert images["calibrated.tif"]["pixel_size_um"] == pytest.approx(0.65)
    assert images["calibrated.tif"]["pixel_size_source"] == "file"
    assert images["photo.jpg"]["format"] == "JPEG" and images["scan.bmp"]["format"] == "BMP"
    lzw = images["imagej-lzw.tif"]  # LZW: ImageJ's and OpenCV's default TIFF compression
    assert (lzw["format"], lzw["bit_depth"], lzw["width"], lzw["height"]) == ("TIFF", 16, 80, 60)
    assert owner.get(lzw["thumbnail_url"]).status_code == 200
    # The thumbnail of a dim 16-bit image is stretched to the full 8-bit range (visible).
    thumb = owner.get(dim["thumbnail_url"])
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/png"
    with PILImage.open(io.BytesIO(b"".join(thumb.streaming_content))) as pil:
        lo, hi = pil.getextrema()
    assert lo <= 10 and hi >= 245


def test_ome_tiff_z_stack_pixel_size_and_pages(project_with_owner):
    owner, project = project_with_owner
    response = f.upload(owner, project.id, [("stack.ome.tif", f.ome_tiff_bytes(physical_size=0.325)),
                                            ("nm.ome.tif", f.ome_tiff_bytes(physical_size=650, unit="nm", pages=2))])
    assert response.status_code == 201, response.json()
    images = {r["filename"]: r["image"] for r in response.json()["results"]}
    stack = images["stack.ome.tif"]
    assert (stack["format"], stack["bit_depth"], stack["width"], stack["height"]) == ("TIFF", 16, 64, 40)
    # The first page is the image; the page count is recorded; the file's size beats the project's.
    assert stack["pages"] == 3 and stack["pixel_size_source"] == "file"
    assert stack["pixel_size_um"] == pytest.approx(0.325)
    assert images["nm.ome.tif"]["pixel_size_um"] == pytest.approx(0.65) and images["nm.ome.tif"]["pages"] == 2
    thumb = owner.get(stack["thumbnail_url"])  # a small image is not enlarged; the dim range is stretched
    with PILImage.open(io.BytesIO(b"".join(thumb.streaming_content))) as pil:
        assert pil.size == (64, 40) and pil.getextrema()[0] <= 10 and pil.getextrema()[1] >= 245


BAD_FILES = [
    ("zero.png", b"", 400, "empty"),
    ("truncated.png", f.truncated_png(), 400, "truncated"),
    ("text.tif", f.TEXT, 415, "not_an_image"),
    ("vector.svg", f.SVG, 415, "not_an_image"),
    ("drawing.png", f.SVG, 415, "not_an_image"),
    ("page.png", f.HTML, 415, "not_an_image"),
    ("bomb.png", f.huge_png_header(), 413, "too_many_pixels"),
    ("bomb.tif", f.huge_tiff_header(), 413, "too_many_pixels"),
    ("lab.tif", f.cielab_tiff(), 415, "unsupported_format"),
    ("line.png", f.png_bytes(700, 1), 400, "too_small"),
    ("strip.tif", f.tiff16_bytes(12, 400), 400, "too_small"),
    ("../../etc/evil.png", f.png_bytes(seed=42), 400, "unsafe_filename"),
    ("../", f.png_bytes(seed=43), 400, "unsafe_filename"),
]


def test_catalogue_of_bad_files_is_refused_per_file_and_nothing_is_stored(project_with_owner, settings):
    owner, project = project_with_owner
    settings.UPLOAD_MAX_FILE_BYTES = 200_000
    big = f.DEMO_IMAGES[0].read_bytes()  # ~1 MB: over the limit set above
    catalogue = [*BAD_FILES, ("big.png", big, 413, "too_large")]

    for name, data, status, code in catalogue:  # one at a time: each answers its own 4xx
        response = f.upload(owner, project.id, [(name, data)])
        assert response.status_code == status, (name, response.json())
        body = response.json()
        assert body["code"] == code and body["detail"], name
        assert body["results"][0]["outcome"] == "rejected"
        assert "/" not in body["results"][0]["filename"]

    together = f.upload(owner, project.id, [(n, d) for n, d, _, _ in catalogue])
    assert together.status_code == 400
    results = together.json()["results"]
    assert [(r["status"], r["code"]) for r in results] == [(s, c) for _, _, s, c in catalogue]
    assert not Image.objects.exists()
    assert f.project_files(project.id) == []


def test_good_files_of_a_mixed_request_are_kept(project_with_owner):
    owner, project = project_with_owner
    response = f.upload(owner, project.id, [("a.png", f.png_bytes(seed=1)), ("bad.tif", f.TEXT),
                                            ("b.png", f.png_bytes(seed=2))])
    assert response.status_code == 207
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (2, 1)
    assert [r["outcome"] for r in body["results"]] == ["accepted", "rejected", "accepted"]
    assert Image.objects.count() == 2
    assert len(f.project_files(project.id)) == 4  # two originals, two thumbnails


def test_duplicates_are_reported_with_the_existing_image(project_with_owner):
    owner, project = project_with_owner
    data = f.png_bytes(seed=7)
    first = f.upload(owner, project.id, [("one.png", data)]).json()["results"][0]["image"]["id"]
    again = f.upload(owner, project.id, [("renamed.png", data), ("same-again.png", f.png_bytes(seed=8)),
                                         ("dup-in-request.png", f.png_bytes(seed=8))])
    results = again.json()["results"]
    assert again.status_code == 207
    assert results[0]["code"] == "duplicate" and results[0]["status"] == 409
    assert results[0]["existing_image_id"] == first
    assert results[1]["outcome"] == "accepted"
    assert results[2]["code"] == "duplicate" and results[2]["existing_image_id"] == results[1]["image"]["id"]
    # Another project may hold the same file.
    other = api.create_project(actor_id=owner.user.id, name="Other")
    assert f.upload(owner, other.id, [("one.png", data)]).status_code == 201


def test_too_many_files_and_quota(project_with_owner, settings):
    owner, project = project_with_owner
    settings.UPLOAD_MAX_FILES_PER_REQUEST = 2
    three = [(f"{i}.png", f.png_bytes(seed=i)) for i in range(3)]
    response = f.upload(owner, project.id, three)
    assert response.status_code == 413 and response.json()["code"] == "too_many_files"
    assert not Image.objects.exists()

    settings.UPLOAD_MAX_FILES_PER_REQUEST = 10
    sizes = [len(d) for _, d in three]
    settings.USER_STORAGE_QUOTA_BYTES = sizes[0] + sizes[1] + 10
    response = f.upload(owner, project.id, three)
    assert response.status_code == 207
    results = response.json()["results"]
    assert [r["outcome"] for r in results] == ["accepted", "accepted", "rejected"]
    assert results[2]["code"] == "quota_exceeded" and results[2]["status"] == 413
    assert api.storage_used(user_id=owner.user.id) == sizes[0] + sizes[1]
    assert len(f.project_files(project.id)) == 4


def test_upload_handler_keeps_no_bytes_past_the_size_limit_or_the_remaining_quota():
    """What a request may put into memory or temporary files: the parser's first handler decides."""
    from apps.images.http.parsers import OversizeUpload, SizeLimitUploadHandler

    handler = SizeLimitUploadHandler(limit=100, budget=150)

    def send(name, size, chunk=40):
        handler.new_file("files", name, "image/png", size)
        passed = sum(len(handler.receive_data_chunk(b"x" * n, 0) or b"")
                     for n in [chunk] * (size // chunk) + [size % chunk] if n)
        return passed, handler.file_complete(size)

    assert send("a.png", 90) == (90, None)  # kept: the next handlers store it
    passed, placeholder = send("big.png", 130)  # over the per-file limit
    assert passed <= 100 and isinstance(placeholder, OversizeUpload)
    assert (placeholder.size, placeholder.over_quota, placeholder.read()) == (130, False, b"")
    passed, placeholder = send("b.png", 70)  # 90 + 70 > 150: over the remaining quota
    assert passed <= 60 and placeholder.over_quota and placeholder.size == 70 and placeholder.read() == b""
    assert send("c.png", 50) == (50, None)  # 90 + 50 still fits


def test_files_past_the_remaining_quota_are_refused_without_being_received(project_with_owner, settings):
    owner, project = project_with_owner
    kept = f.png_bytes(seed=31)
    settings.USER_STORAGE_QUOTA_BYTES = len(kept) + 5_000
    big = f.png_bytes(width=400, height=300, seed=32)  # ~120 kB: over what is left
    response = f.upload(owner, project.id, [("kept.png", kept), ("big.png", big)])
    assert response.status_code == 207
    rejected = response.json()["results"][1]
    assert rejected["code"] == "quota_exceeded" and rejected["status"] == 413
    assert "remaining storage quota" in rejected["detail"]
    assert list(Image.objects.values_list("original_name", flat=True)) == ["kept.png"]


def test_quota_is_checked_again_when_the_row_is_written(project_with_owner, settings, monkeypatch):
    """A concurrent upload that lands while this file is being decoded and stored counts too."""
    from apps.images import storage

    owner, project = project_with_owner
    data = f.png_bytes(seed=11)
    settings.USER_STORAGE_QUOTA_BYTES = len(data) + 100  # passes the first check alone
    real_save_bytes = storage.save_bytes

    def save_then_race(name, content):
        stored = real_save_bytes(name, content)
        Image.objects.create(project_id=project.id, original_name="other.png", storage_name="race/other.png",
                             format="PNG", width=1, height=1, bit_depth=8, channels=1, file_size=200,
                             sha256="0" * 64, uploaded_by=owner.user.id)
        return stored

    monkeypatch.setattr(storage, "save_bytes", save_then_race)
    response = f.upload(owner, project.id, [("late.png", data)])
    assert response.status_code == 413 and response.json()["code"] == "quota_exceeded"
    assert list(Image.objects.values_list("original_name", flat=True)) == ["other.png"]
    assert f.project_files(project.id) == []  # the stored original and thumbnail were removed


def test_django_parser_file_count_limit_answers_json(project_with_owner, settings):
    owner, project = project_with_owner
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    response = f.upload(owner, project.id, [(f"{i}.png", f.png_bytes(seed=i)) for i in range(3)])
    assert response.status_code == 413 and response.json()["code"] == "too_many_files"
    assert not Image.objects.exists()


def test_upload_without_files_is_a_400(project_with_owner):
    owner, project = project_with_owner
    response = owner.post(f"/api/v1/projects/{project.id}/images/", {}, format="multipart")
    assert response.status_code == 400 and response.json()["code"] == "no_files"


def test_upload_publishes_one_event_per_accepted_image(project_with_owner):
    owner, project = project_with_owner
    seen = []
    bus.subscribe("images.image.uploaded", seen.append, phase="in_transaction")
    try:
        f.upload(owner, project.id, [("a.png", f.png_bytes(seed=1)), ("b.tif", f.TEXT)])
    finally:
        bus.unsubscribe("images.image.uploaded", seen.append, phase="in_transaction")
    assert len(seen) == 1
    event = seen[0]
    image = Image.objects.get()
    assert (event.subject_id, event.project_id, event.actor_id) == (str(image.id), str(project.id),
                                                                    str(owner.user.id))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_cannot_both_pass_the_quota(make_user, settings):
    """Two requests of one user at once, each alone under the quota, together over it: one is refused."""
    import threading

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (concurrent writers); SQLite serialises writers itself")
    owner = make_user()
    project = api.create_project(actor_id=owner.id, name="Race")
    files = [f.png_bytes(seed=s, width=200, height=200) for s in (21, 22)]
    settings.USER_STORAGE_QUOTA_BYTES = max(map(len, files)) + 100
    barrier = threading.Barrier(2)
    outcomes = []

    def upload(data):
        try:
            barrier.wait()
            (result,) = api.upload_images(actor_id=owner.id, project_id=project.id,
                                          files=[api.UploadInput(name="x.png", file=io.BytesIO(data))])
            outcomes.append(result.code or "accepted")
        finally:
            connection.close()

    threads = [threading.Thread(target=upload, args=(d,)) for d in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["accepted", "quota_exceeded"]
    assert Image.objects.count() == 1 and len(f.project_files(project.id)) == 2


def test_a_jpeg_turned_by_its_exif_orientation_is_recorded_as_shown(project_with_owner):
    """A camera held on its side: the width and height recorded, and the thumbnail, are those of
    the image as browsers show it (the viewer draws the outlines over that)."""
    owner, project = project_with_owner
    img = PILImage.fromarray(np.full((60, 100), 120, np.uint8))
    exif = img.getexif()
    exif[0x0112] = 6  # turned a quarter clockwise when shown
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif.tobytes())
    response = f.upload(owner, project.id, [("sideways.jpg", out.getvalue())])
    assert response.status_code == 201, response.json()
    image = response.json()["results"][0]["image"]
    assert (image["width"], image["height"]) == (60, 100)
    row = Image.objects.get(id=image["id"])
    with default_storage.open(row.thumbnail_name, "rb") as fh, PILImage.open(fh) as thumb:
        assert thumb.size[1] > thumb.size[0]
