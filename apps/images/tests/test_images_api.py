"""Image reads, downloads, deletion and listing over REST, for members of each role and strangers."""

from __future__ import annotations

import uuid

import pytest
from django.core.files.storage import default_storage

from apps.images import api
from apps.images.models import Image, Project
from apps.images.tests import factories as f

pytestmark = pytest.mark.django_db


def _upload(client, project_id, n=2, seed=0):
    files = [(f"img-{seed + i}.png", f.png_bytes(seed=seed + i)) for i in range(n)]
    response = f.upload(client, project_id, files)
    assert response.status_code == 201, response.json()
    return [r["image"] for r in response.json()["results"]]


def test_second_user_sees_nothing_until_invited_then_exactly_their_role(project_with_owner, auth_client, on_commit):
    owner, project = project_with_owner
    image = _upload(owner, project.id, n=1)[0]
    other = auth_client()
    iid, pid = image["id"], project.id
    reads = [f"/api/v1/projects/{pid}/", f"/api/v1/projects/{pid}/images/", f"/api/v1/images/{iid}/",
             f"/api/v1/images/{iid}/file/", f"/api/v1/images/{iid}/thumbnail/"]

    # A stranger: 404 for everything, the same as for things that do not exist.
    for path in reads:
        response = other.get(path)
        assert response.status_code == 404 and response.json()["detail"] == "Not found.", path
    assert other.get(f"/api/v1/images/{uuid.uuid4()}/file/").status_code == 404
    assert other.delete(f"/api/v1/images/{iid}/").status_code == 404
    assert f.upload(other, pid, [("x.png", f.png_bytes(seed=99))]).status_code == 404
    assert other.get("/api/v1/projects/").json()["count"] == 0

    # Invited as viewer: reads everything, cannot upload or delete.
    api.add_member(actor_id=owner.user.id, project_id=pid, email=other.user.email, role="viewer")
    for path in reads:
        assert other.get(path).status_code == 200, path
    refused = f.upload(other, pid, [("x.png", f.png_bytes(seed=99))])
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert other.delete(f"/api/v1/images/{iid}/").status_code == 403
    assert Image.objects.count() == 1 and len(f.project_files(pid)) == 2

    # Editor: uploads and deletes images, still cannot manage.
    api.change_member_role(actor_id=owner.user.id, project_id=pid, user_id=other.user.id, role="editor")
    new = f.upload(other, pid, [("x.png", f.png_bytes(seed=99))])
    assert new.status_code == 201
    assert new.json()["results"][0]["image"]["uploaded_by"] == str(other.user.id)
    with on_commit():
        assert other.delete(f"/api/v1/images/{iid}/").status_code == 204
    assert other.delete(f"/api/v1/projects/{pid}/").status_code == 403
    assert Image.objects.count() == 1 and len(f.project_files(pid)) == 2

    # Removed again: back to 404.
    api.remove_member(actor_id=owner.user.id, project_id=pid, user_id=other.user.id)
    assert other.get(f"/api/v1/projects/{pid}/images/").status_code == 404


def test_file_download_is_streamed_with_safe_headers(project_with_owner):
    owner, project = project_with_owner
    data = f.tiff16_bytes()
    body = f.upload(owner, project.id, [('evil"name<script>.tif', data)]).json()
    image = body["results"][0]["image"]
    response = owner.get(image["file_url"])
    assert response.status_code == 200 and response.streaming
    assert b"".join(response.streaming_content) == data
    assert response["Content-Type"] == "image/tiff"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("attachment;")
    # The quote in the user's name is escaped: it cannot end the filename parameter early.
    assert response["Content-Disposition"] == 'attachment; filename="evil\\"name<script>.tif"'
    assert response["Cache-Control"].startswith("private")
    # Any Accept header works for files (an <img> asks for image/*).
    thumb = owner.get(image["thumbnail_url"], HTTP_ACCEPT="image/avif,image/webp,image/png")
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/png"
    assert thumb["Content-Disposition"].startswith("inline;")


def test_stored_files_have_no_public_url(project_with_owner, api_client, settings):
    """Only the permission-checked views serve files: the local storage's media URL answers 404."""
    from django.urls import Resolver404, resolve

    if not settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage"):
        pytest.skip("local file storage only; S3 privacy: test_s3.py::test_s3_objects_are_private_and_urls_are_short_lived_signed")
    owner, project = project_with_owner
    image = _upload(owner, project.id, n=1)[0]
    row = Image.objects.get(id=image["id"])
    for name in (row.storage_name, row.thumbnail_name):
        url = default_storage.url(name)
        assert url.startswith(settings.MEDIA_URL)
        with pytest.raises(Resolver404):
            resolve(url)
        assert owner.get(url).status_code == 404 and api_client.get(url).status_code == 404
    assert api_client.get(image["file_url"]).status_code == 401


def test_image_detail_and_delete_removes_files(project_with_owner, on_commit):
    owner, project = project_with_owner
    image = _upload(owner, project.id, n=1)[0]
    detail = owner.get(f"/api/v1/images/{image['id']}/").json()
    assert detail["id"] == image["id"] and detail["status"] == "new"
    row = Image.objects.get(id=image["id"])
    assert default_storage.exists(row.storage_name) and default_storage.exists(row.thumbnail_name)
    with on_commit():
        assert owner.delete(f"/api/v1/images/{image['id']}/").status_code == 204
    assert not default_storage.exists(row.storage_name) and not default_storage.exists(row.thumbnail_name)
    assert owner.get(f"/api/v1/images/{image['id']}/").status_code == 404


def test_deleting_a_project_removes_its_files_and_publishes(project_with_owner, on_commit):
    from apps.common import events as bus

    owner, project = project_with_owner
    _upload(owner, project.id, n=3)
    other = api.create_project(actor_id=owner.user.id, name="Keep")
    _upload(owner, other.id, n=1, seed=50)
    assert len(f.stored_names(f"images/{project.id}")) == 3
    seen = []
    bus.subscribe("images.project.deleted", seen.append)
    try:
        with on_commit():
            assert owner.delete(f"/api/v1/projects/{project.id}/").status_code == 204
    finally:
        bus.unsubscribe("images.project.deleted", seen.append)
    assert f.project_files(project.id) == []
    assert len(f.project_files(other.id)) == 2  # the other project's image and thumbnail stay
    assert not Project.objects.filter(id=project.id).exists() and Image.objects.count() == 1
    assert len(seen) == 1 and seen[0].project_id == str(project.id) and seen[0].image_count == 3


def test_list_paginates_searches_orders_and_validates(project_with_owner):
    owner, project = project_with_owner
    names = ["beta.png", "alpha.png", "gamma-spheroid.png", "delta-spheroid.png"]
    f.upload(owner, project.id, [(n, f.png_bytes(seed=i, width=20 + i)) for i, n in enumerate(names)])
    url = f"/api/v1/projects/{project.id}/images/"
    page1 = owner.get(url, {"page_size": 3, "ordering": "name"}).json()
    assert page1["count"] == 4 and page1["page"] == 1 and page1["previous"] is None
    assert [r["original_name"] for r in page1["results"]] == sorted(names)[:3]
    assert page1["results"][0]["status"] == "new" and page1["results"][0]["thumbnail_url"].endswith("/thumbnail/")
    page2 = owner.get(page1["next"]).json()
    assert [r["original_name"] for r in page2["results"]] == sorted(names)[3:] and page2["next"] is None
    by_width = owner.get(url, {"ordering": "-width"}).json()["results"]
    assert [r["width"] for r in by_width] == [23, 22, 21, 20]
    found = owner.get(url, {"search": "SPHEROID"}).json()
    assert {r["original_name"] for r in found["results"]} == {"gamma-spheroid.png", "delta-spheroid.png"}
    for bad in ({"ordering": "sha256; drop"}, {"status": "exploded"}, {"page_size": 0}):
        response = owner.get(url, bad)
        assert response.status_code == 400 and response.json()["errors"], bad
    assert owner.get(url, {"page": 99}).json()["results"] == []


def test_status_filter_uses_the_segmentation_status(project_with_owner):
    from apps.segmentation import api as segmentation_api

    owner, project = project_with_owner
    images = _upload(owner, project.id, n=5)
    queued = sorted([images[0]["id"], images[2]["id"], images[4]["id"]])
    segmentation_api.request_segmentation(user_id=owner.user.id, image_ids=queued)
    url = f"/api/v1/projects/{project.id}/images/"
    assert owner.get(url, {"status": "done"}).json()["count"] == 0
    new = owner.get(url, {"status": "new", "ordering": "name"}).json()
    assert new["count"] == 2 and [r["id"] for r in new["results"]] == [images[1]["id"], images[3]["id"]]
    # The filter keeps the ordering, the count and the paging of the filtered set.
    names = {i["id"]: i["original_name"] for i in images}
    by_name = sorted(queued, key=names.get, reverse=True)
    first = owner.get(url, {"status": "queued", "ordering": "-name", "page_size": 2}).json()
    assert first["count"] == 3 and [r["id"] for r in first["results"]] == by_name[:2]
    assert all(r["status"] == "queued" for r in first["results"])
    second = owner.get(first["next"]).json()
    assert [r["id"] for r in second["results"]] == by_name[2:] and second["next"] is None
    searched = owner.get(url, {"status": "queued", "search": images[2]["original_name"]}).json()
    assert [r["id"] for r in searched["results"]] == [images[2]["id"]]
    assert owner.get(url, {"status": "queued", "page": 9}).json()["results"] == []


def test_list_of_10000_images_answers_in_a_constant_number_of_queries(
    project_with_owner, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    owner, project = project_with_owner
    small = api.create_project(actor_id=owner.user.id, name="small")

    def seed(pid, n):
        Image.objects.bulk_create(
            [Image(project_id=pid, original_name=f"img-{i:05d}.png", storage_name=f"bench/{pid}/{i}.png",
                   thumbnail_name=f"bench/{pid}/{i}.thumb.png", format="PNG", width=1000, height=1000,
                   bit_depth=8, channels=3, pages=1, file_size=1000, sha256=f"{i:064x}",
                   uploaded_by=owner.user.id) for i in range(n)],
            batch_size=2000,
        )

    seed(project.id, 10_000)
    seed(small.id, 3)

    def count_queries(pid, params):
        with CaptureQueriesContext(connection) as ctx:
            response = owner.get(f"/api/v1/projects/{pid}/images/", params)
        assert response.status_code == 200
        return len(ctx), response.json()

    for params in ({}, {"search": "img-0", "ordering": "name"}, {"status": "new"}):
        small_n, _ = count_queries(small.id, params)
        big_n, body = count_queries(project.id, params)
        assert big_n == small_n, params
        assert len(body["results"]) == 50
    assert body["count"] == 10_000
    with django_assert_max_num_queries(12):
        owner.get(f"/api/v1/projects/{project.id}/images/", {"status": "new", "page_size": 500})
    summary = api.list_projects_for_user(user_id=owner.user.id)
    assert {s.project.name: s.image_count for s in summary} == {"Spheroids": 10_000, "small": 3}


def test_fast_list_rendering_matches_the_documented_serializer(project_with_owner):
    import json

    from apps.images.http import serializers as s

    owner, project = project_with_owner
    _upload(owner, project.id, n=2)
    items = api.list_images(project_id=project.id).items
    documented = json.loads(json.dumps(s.ImageListItemSerializer(items, many=True).data))
    assert s.list_items_data(items) == documented
