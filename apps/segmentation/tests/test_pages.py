"""The image page (viewer/editor) and the models page: membership, roles, strict-CSP markup."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_config(html: str) -> dict:
    match = re.search(r'<script id="page-config" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(match.group(1))


def test_image_page_for_members_only(world):
    url = f"/images/{world.image_id}/"
    assert page_client(world.outsider).get(url).status_code == 404
    assert page_client(world.outsider).get(f"/images/{uuid.uuid4()}/").status_code == 404
    assert "/accounts/login/" in Client().get(url)["Location"]
    editor = page_client(world.editor).get(url)
    assert editor.status_code == 200
    html = editor.content.decode()
    config = page_config(html)
    assert config["canEdit"] is True and config["imageId"] == str(world.image_id)
    assert config["pixelSizeUm"] == 0.65
    assert config["segmentationUrl"] == f"/api/v1/images/{world.image_id}/segmentation/"
    assert 'data-action="save"' in html and 'data-mode="slice"' in html
    assert "csrftoken" in editor.cookies  # the editor's PUT needs the CSRF cookie
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert 'type="application/json"' in tag or "src=" in tag, tag
    assert not re.search(r"\sstyle=", html)
    viewer_html = page_client(world.viewer).get(url).content.decode()
    assert page_config(viewer_html)["canEdit"] is False
    assert 'data-action="save"' not in viewer_html and 'id="segment-form"' not in viewer_html


def test_models_page_lists_the_registry(world):
    html = page_client(world.viewer).get("/models/").content.decode()
    assert "classical" in html
    assert "/accounts/login/" in Client().get("/models/")["Location"]
