"""Fixtures of the images tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Argon2 is the product's hasher; these tests create many users and never test hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def project_with_owner(auth_client):
    from apps.images import api

    owner = auth_client()
    project = api.create_project(actor_id=owner.user.id, name="Spheroids", pixel_size_um=1.5)
    return owner, project


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run after-commit work (file deletion, event subscribers) as a committed request would."""

    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run


from tests.s3.fixtures import moto_s3_server, s3_storage  # noqa: E402,F401  (shared S3 fixtures)
