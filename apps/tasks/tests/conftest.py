"""Fixtures of the tasks tests: projects with members (through the images api), job helpers."""

from __future__ import annotations

import dramatiq
import pytest

from apps.tasks import testing  # registers the test.sleep kind


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
    """A fresh in-process StubBroker as the global broker, whatever BROKER_URL says: these
    tests are about the reconciliation logic and count messages in its queues."""
    from apps.tasks import actors
    from config.dramatiq import build_broker

    previous = dramatiq.get_broker()
    broker = build_broker("stub://")
    broker.declare_actor(actors.run_job)
    broker.declare_queue(testing.QUEUE)
    dramatiq.set_broker(broker)
    yield broker
    broker.flush_all()
    broker.close()
    dramatiq.set_broker(previous)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # These tests are about jobs: skip Argon2's deliberate slowness when creating users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
