"""Fixtures of the API tests: the live product (``asgi_server`` from tests/e2e/conftest.py, reused
as is) with its own media folder, and a signed-in user's JWT."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import asgi_server, pytest_collection_modifyitems  # noqa: F401 (fixture + hook)


@pytest.fixture
def server_media(tmp_path, monkeypatch):
    """Files written by the server subprocess go to this test's folder (set before it starts)."""
    media = tmp_path / "server-media"
    monkeypatch.setenv("MEDIA_ROOT", str(media))
    return media


@pytest.fixture
def live_server_url(server_media, asgi_server) -> str:  # noqa: F811 (the imported fixture)
    return asgi_server


@pytest.fixture
def live_user(make_user):
    return make_user()


@pytest.fixture
def access_token(live_user) -> str:
    from rest_framework_simplejwt.tokens import RefreshToken

    return str(RefreshToken.for_user(live_user).access_token)
