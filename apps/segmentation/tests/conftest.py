"""Fixtures of the segmentation tests: a project with an owner, an editor, a viewer, an outsider,
and real demo spheroid images uploaded through the images api."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[3] / "demo" / "spheroids"
DEMO_IMAGES = sorted(DEMO.glob("*.png"))


@dataclasses.dataclass
class World:
    owner: object
    editor: object
    viewer: object
    outsider: object
    project_id: object
    image_ids: list

    @property
    def image_id(self):
        return self.image_ids[0]


def upload(actor_id, project_id, paths) -> list:
    from apps.images import api as images_api

    files = [images_api.UploadInput(name=p.name, file=io.BytesIO(p.read_bytes())) for p in paths]
    results = images_api.upload_images(actor_id=actor_id, project_id=project_id, files=files)
    assert all(r.accepted for r in results), [r.detail for r in results]
    return [r.image.id for r in results]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """These tests are about segmentation, not passwords: skip Argon2's deliberate cost."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(make_user) -> World:
    from apps.images import api as images_api

    owner, editor, viewer, outsider = (make_user() for _ in range(4))
    project = images_api.create_project(actor_id=owner.id, name="Spheroids", pixel_size_um=0.65)
    images_api.add_member(actor_id=owner.id, project_id=project.id, email=editor.email, role="editor")
    images_api.add_member(actor_id=owner.id, project_id=project.id, email=viewer.email, role="viewer")
    ids = upload(owner.id, project.id, DEMO_IMAGES[:2])
    return World(owner, editor, viewer, outsider, project.id, ids)


@pytest.fixture
def client_for(auth_client):
    return lambda user: auth_client(user=user)


SQUARE = [[100, 100], [300, 100], [300, 300], [100, 300]]
