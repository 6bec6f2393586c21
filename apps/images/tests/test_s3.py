"""The same flows against a real S3 API (moto server on 127.0.0.1) through django-storages."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.storage import default_storage

from apps.images import api
from apps.images.models import Image
from apps.images.tests import factories as f

pytestmark = [pytest.mark.django_db, pytest.mark.s3]


def test_upload_download_thumbnail_and_project_deletion_on_s3(s3_storage, project_with_owner, on_commit):
    owner, project = project_with_owner
    demo = f.DEMO_IMAGES[0].read_bytes()
    response = f.upload(owner, project.id, [("spheroid.png", demo), ("dim.tif", f.tiff16_bytes()),
                                            ("fake.tif", f.TEXT)])
    assert response.status_code == 207, response.json()
    accepted = [r["image"] for r in response.json()["results"] if r["outcome"] == "accepted"]
    assert len(accepted) == 2
    keys = s3_storage.keys()
    rows = Image.objects.filter(project_id=project.id)
    assert keys == sorted([r.storage_name for r in rows] + [r.thumbnail_name for r in rows])
    assert all(k.startswith((f"images/{project.id}/", f"thumbnails/{project.id}/")) for k in keys)
    assert type(default_storage._wrapped).__name__ == "S3Storage"

    download = owner.get(accepted[0]["file_url"])
    assert download.status_code == 200
    assert hashlib.sha256(b"".join(download.streaming_content)).hexdigest() == hashlib.sha256(demo).hexdigest()
    assert download["X-Content-Type-Options"] == "nosniff"
    thumb = owner.get(accepted[1]["thumbnail_url"])
    assert thumb.status_code == 200 and b"".join(thumb.streaming_content).startswith(b"\x89PNG")
    with api.open_image(image_id=accepted[1]["id"]) as fh:
        assert fh.read(4) == b"II*\x00"

    with on_commit():
        assert owner.delete(f"/api/v1/images/{accepted[1]['id']}/").status_code == 204
    assert len(s3_storage.keys()) == 2
    with on_commit():
        assert owner.delete(f"/api/v1/projects/{project.id}/").status_code == 204
    assert s3_storage.keys() == []


def test_rejected_files_leave_no_object_on_s3(s3_storage, project_with_owner):
    owner, project = project_with_owner
    response = f.upload(owner, project.id, [("t.png", f.truncated_png()), ("b.png", f.huge_png_header()),
                                            ("z.png", b"")])
    assert response.status_code == 400
    assert s3_storage.keys() == [] and not Image.objects.exists()


def test_s3_objects_are_private_and_urls_are_short_lived_signed(s3_storage, project_with_owner):
    import time
    import urllib.parse
    import urllib.request

    owner, project = project_with_owner
    image = f.upload(owner, project.id, [("a.png", f.png_bytes(seed=3))]).json()["results"][0]["image"]
    name = Image.objects.get(id=image["id"]).storage_name
    acl = s3_storage.client.get_object_acl(Bucket=s3_storage.bucket, Key=name)
    assert not [g for g in acl["Grants"] if g["Grantee"].get("URI", "").endswith("/global/AllUsers")]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(default_storage.url(name)).query)
    assert query["Signature"] and 0 < int(query["Expires"][0]) - time.time() <= 300 + 5
    with urllib.request.urlopen(default_storage.url(name)) as signed:  # the signed URL works (moto checks it)
        assert signed.read() == b"".join(owner.get(image["file_url"]).streaming_content)
