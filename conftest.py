"""Fixtures shared by every context's tests and the cross-context tests in tests/."""

from __future__ import annotations

import os
import socket
import uuid

import pytest


def service_reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
RABBITMQ_TEST_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def pytest_report_header(config):
    redis_up = service_reachable("127.0.0.1", 6379)
    rabbit_up = service_reachable("127.0.0.1", 5672)
    from django.conf import settings

    return [
        f"spheroseg: database={settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]} "
        f"broker={settings.DRAMATIQ['BROKER_URL'].split(':', 1)[0]} "
        f"storage={settings.STORAGES['default']['BACKEND'].rsplit('.', 1)[-1]} "
        f"channels={settings.CHANNEL_LAYERS['default']['BACKEND'].rsplit('.', 1)[-1]}",
        f"spheroseg: redis {'up' if redis_up else 'DOWN (redis tests skipped)'}, "
        f"rabbitmq {'up' if rabbit_up else 'DOWN (rabbitmq tests skipped)'}",
    ]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """A PostgreSQL test database per pytest process, so concurrent runs never collide."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if "postgresql" in db["ENGINE"]:
        test = db.setdefault("TEST", {})
        test["NAME"] = f"{test.get('NAME') or 'test_' + db['NAME']}_{os.getpid()}"


@pytest.fixture
def redis_url() -> str:
    if not service_reachable("127.0.0.1", 6379):
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    return REDIS_TEST_URL


@pytest.fixture
def rabbitmq_url() -> str:
    if not service_reachable("127.0.0.1", 5672):
        pytest.skip("RabbitMQ is not running on 127.0.0.1:5672")
    return RABBITMQ_TEST_URL


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    """Local file storage goes to a per-test folder (S3 runs keep their bucket)."""
    default = settings.STORAGES["default"]
    if default["BACKEND"].endswith("FileSystemStorage"):
        media = tmp_path / "media"
        settings.MEDIA_ROOT = media
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {**default, "OPTIONS": {**default.get("OPTIONS", {}), "location": str(media)}},
        }


@pytest.fixture(autouse=True)
def _fresh_auth_throttles(settings):
    """Sign-in throttle counts (apps.accounts.throttling) start from zero in every test."""
    settings.ACCOUNTS_THROTTLE_NAMESPACE = uuid.uuid4().hex


@pytest.fixture
def make_user(db):
    """Create users: ``make_user(email=..., password=..., is_staff=...)``."""
    from django.contrib.auth import get_user_model

    def factory(email: str | None = None, password: str = "correct-horse-battery-9", **extra):  # noqa: S107
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.org"
        extra.setdefault("email_verified", True)
        user = get_user_model().objects.create_user(email=email, password=password, **extra)
        user.raw_password = password
        return user

    return factory


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def auth_client(make_user):
    """An APIClient authenticated as a fresh user (``client.user``)."""
    from rest_framework.test import APIClient

    def factory(user=None, **kwargs):
        user = user or make_user(**kwargs)
        client = APIClient()
        client.force_authenticate(user=user)
        client.user = user
        return client

    return factory
