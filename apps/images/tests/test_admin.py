"""Admin: projects with members and counts, images with metadata and a thumbnail preview."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.images import api
from apps.images.models import Image, Project
from apps.images.tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(make_user):
    client = Client()
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


def test_admin_lists_projects_and_shows_image_preview(operator, project_with_owner, make_user, on_commit):
    owner, project = project_with_owner
    viewer = make_user()
    api.add_member(actor_id=owner.user.id, project_id=project.id, email=viewer.email, role="viewer")
    f.upload(owner, project.id, [("a.png", f.png_bytes(seed=1)), ("b.png", f.png_bytes(seed=2))])

    changelist = operator.get("/admin/images/project/")
    assert changelist.status_code == 200
    html = changelist.content.decode()
    assert "Spheroids" in html and 'class="field-image_count">2<' in html and 'class="field-member_count">2<' in html
    assert f'class="field-owner">{owner.user.email}<' in html
    detail = operator.get(f"/admin/images/project/{project.id}/change/")
    text = detail.content.decode()
    assert detail.status_code == 200 and str(owner.user.id) in text
    assert owner.user.email in text and viewer.email in text  # the members inline names them

    image = Image.objects.first()
    page = operator.get(f"/admin/images/image/{image.id}/change/")
    assert page.status_code == 200
    assert 'src="data:image/png;base64,' in page.content.decode()
    assert operator.get("/admin/images/image/").status_code == 200

    with on_commit():
        response = operator.post(f"/admin/images/project/{project.id}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Project.objects.exists() and f.project_files(project.id) == []
