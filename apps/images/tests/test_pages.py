"""Server-rendered pages of the images context: access, forms with CSRF, strict-CSP markup."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client

from apps.images import api
from apps.images.contracts import Role
from apps.images.http import charts
from apps.images.tests.factories import png_bytes, tiff16_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def browser(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def csrf(client: Client, url: str) -> str:
    page = client.get(url)
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)


def upload(owner, project, name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    f = SimpleUploadedFile(name, data)
    [result] = api.upload_images(actor_id=owner.id, project_id=project.id,
                                 files=[api.UploadInput(name=name, file=f, size=len(data))])
    assert result.accepted, result.detail
    return result.image


def assert_csp_safe(html: str) -> None:
    """No inline script (only JSON data blocks and external modules) and no style attributes."""
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert 'type="application/json"' in tag or "src=" in tag, tag
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers


def test_anonymous_visitors_are_sent_to_log_in():
    response = Client().get("/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    pid = uuid.uuid4()
    for url in (f"/projects/{pid}/", f"/projects/{pid}/exports/", f"/projects/{pid}/charts/"):
        assert "/accounts/login/" in Client().get(url)["Location"]


def test_create_project_from_the_dashboard_needs_csrf_and_lists_it(make_user):
    user = make_user()
    client = browser(user)
    assert client.post("/", {"name": "No token"}).status_code == 403
    token = csrf(client, "/")
    response = client.post("/", {"name": "Week 1", "pixel_size_um": "0.5", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    [summary] = api.list_projects_for_user(user_id=user.id)
    assert summary.project.name == "Week 1" and summary.project.pixel_size_um == 0.5
    assert response["Location"] == f"/projects/{summary.project.id}/"
    page = client.get("/").content.decode()
    assert "Week 1" in page
    assert_csp_safe(page)


def test_dashboard_form_errors_are_shown_and_nothing_is_created(make_user):
    user = make_user()
    client = browser(user)
    token = csrf(client, "/")
    response = client.post("/", {"name": "", "pixel_size_um": "-3", "csrfmiddlewaretoken": token})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert api.list_projects_for_user(user_id=user.id) == []


def test_project_pages_show_members_and_refuse_non_members(make_user):
    owner, viewer, stranger = make_user(), make_user(), make_user()
    project = api.create_project(actor_id=owner.id, name="Shared")
    api.add_member(actor_id=owner.id, project_id=project.id, email=viewer.email, role=Role.VIEWER)
    image = upload(owner, project, "a.png", png_bytes(40, 30))
    for suffix in ("", "exports/", "charts/"):
        url = f"/projects/{project.id}/{suffix}"
        assert browser(owner).get(url).status_code == 200
        assert browser(viewer).get(url).status_code == 200
        assert browser(stranger).get(url).status_code == 404
    assert browser(stranger).get(f"/images/{image.id}/preview/").status_code == 404
    owner_page = browser(owner).get(f"/projects/{project.id}/").content.decode()
    assert 'id="dropzone"' in owner_page and "a.png" in owner_page and viewer.email in owner_page
    assert_csp_safe(owner_page)
    viewer_page = browser(viewer).get(f"/projects/{project.id}/").content.decode()
    assert 'id="dropzone"' not in viewer_page and 'id="btn-delete"' not in viewer_page
    assert "Leave this project" in viewer_page
    # The dashboard lists it under "shared" for the viewer, not at all for the stranger.
    assert "Shared" in browser(viewer).get("/").content.decode()
    assert f"/projects/{project.id}/" not in browser(stranger).get("/").content.decode()


def test_members_dialog_invites_changes_and_removes(make_user):
    owner, colleague = make_user(), make_user()
    project = api.create_project(actor_id=owner.id, name="Lab")
    client = browser(owner)
    url = f"/projects/{project.id}/members/"
    token = csrf(client, f"/projects/{project.id}/")
    response = client.post(url, {"op": "invite", "email": colleague.email, "role": "editor", "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"].endswith("#members")
    roles = {m.user_id: m.role for m in api.list_members(project_id=project.id)}
    assert roles[colleague.id] == Role.EDITOR
    client.post(url, {"op": "role", "user_id": str(colleague.id), "role": "viewer", "csrfmiddlewaretoken": token})
    assert {m.user_id: m.role for m in api.list_members(project_id=project.id)}[colleague.id] == Role.VIEWER
    # The colleague (not owner) cannot manage members: 403; a stranger: 404.
    other = browser(colleague)
    other_token = csrf(other, f"/projects/{project.id}/")
    assert other.post(url, {"op": "remove", "user_id": str(owner.id), "csrfmiddlewaretoken": other_token}).status_code == 403
    client.post(url, {"op": "remove", "user_id": str(colleague.id), "csrfmiddlewaretoken": token})
    assert [m.user_id for m in api.list_members(project_id=project.id)] == [owner.id]
    assert browser(colleague).get(f"/projects/{project.id}/").status_code == 404
    # Unknown e-mail: a message, nothing added.
    client.post(url, {"op": "invite", "email": "nobody@example.org", "role": "viewer", "csrfmiddlewaretoken": token})
    assert len(api.list_members(project_id=project.id)) == 1


def test_gallery_filters_by_status_and_name(make_user):
    owner = make_user()
    project = api.create_project(actor_id=owner.id, name="Filters")
    upload(owner, project, "alpha.png", png_bytes(30, 30, seed=1))
    upload(owner, project, "beta.png", png_bytes(30, 30, seed=2))
    client = browser(owner)
    page = client.get(f"/projects/{project.id}/?q=alp").content.decode()
    assert "alpha.png" in page and "beta.png" not in page
    page = client.get(f"/projects/{project.id}/?status=done").content.decode()
    assert "alpha.png" not in page and "No image matches these filters." in page
    page = client.get(f"/projects/{project.id}/?status=new&ordering=name").content.decode()
    assert page.index("alpha.png") < page.index("beta.png")


def test_preview_streams_browser_formats_and_converts_16_bit_tiff(make_user):
    owner = make_user()
    project = api.create_project(actor_id=owner.id, name="Preview")
    png = upload(owner, project, "a.png", png_bytes(40, 30))
    tif = upload(owner, project, "b.tif", tiff16_bytes(80, 60))
    client = browser(owner)
    response = client.get(f"/images/{png.id}/preview/")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == png_bytes(40, 30)
    response = client.get(f"/images/{tif.id}/preview/")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    import io

    from PIL import Image as PILImage

    img = PILImage.open(io.BytesIO(response.content))
    assert img.size == (80, 60) and img.mode == "L"
    lo, hi = img.getextrema()
    assert hi - lo > 200  # the narrow 16-bit band is stretched to be visible
    assert client.get(f"/images/{tif.id}/preview/", HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


def test_histogram_counts_and_svg_are_honest():
    bins = charts.histogram([0.1, 0.2, 0.2, 0.9, 1.0], lo=0.0, hi=1.0, bins=10)
    assert [c for _s, _e, c in bins] == [0, 1, 2, 0, 0, 0, 0, 0, 0, 2]
    assert sum(c for _s, _e, c in bins) == 5
    svg = str(charts.histogram_svg([1.0, 2.0, 2.5], title="Area", unit="px²"))
    assert svg.startswith("<svg") and 'role="img"' in svg and svg.count("<rect") == charts.BINS
    assert "3 objects" in svg
    assert "No data" in str(charts.histogram_svg([], title="Area", unit="px²"))


def test_pages_are_translated_to_czech(make_user):
    client = Client(HTTP_ACCEPT_LANGUAGE="cs")
    client.force_login(make_user())
    html = client.get("/").content.decode()
    assert "Vaše projekty" in html and "Nový projekt" in html
