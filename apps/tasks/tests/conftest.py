"""Fixtures of the tasks tests: projects with members (through the images api), job helpers."""

from __future__ import annotations

import dramatiq
import pytest

from apps.tasks import testing  # noqa: F401  (registers the test.sleep kind)


@pytest.fixture
def project_factory(make_user):
    from apps.images import api as images

    def factory(owner=None, members=()):
        owner = owner or make_user()
        project = images.create_project(actor_id=owner.id, name="Spheroids")
        for user, role in members:
            images.add_member(actor_id=owner.id, project_id=project.id, email=user.email, role=role)
        return project, owner

    return factory


@pytest.fixture
def flushed_broker():
    broker = dramatiq.get_broker()
    broker.flush_all()
    yield broker
    broker.flush_all()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # These tests are about jobs: skip Argon2's deliberate slowness when creating users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
