"""Websocket handshake authentication: Bearer access JWT, else the session cookie."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.urls import path

from apps.accounts import services
from apps.accounts.realtime.auth import JWTAuthMiddlewareStack

# database_sync_to_async closes "old" connections around each call, which ends a test
# transaction on any non-memory database: these tests commit for real.
pytestmark = [pytest.mark.django_db(transaction=True)]


class WhoAmI(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=4401)
            return
        await self.accept()
        await self.send_json({"user": str(user.pk)})


application = JWTAuthMiddlewareStack(URLRouter([path("ws/whoami/", WhoAmI.as_asgi())]))


async def handshake(headers=()):
    communicator = WebsocketCommunicator(application, "/ws/whoami/", headers=list(headers))
    connected, code = await communicator.connect()
    message = await communicator.receive_json_from() if connected else None
    await communicator.disconnect()
    return connected, code, message


@database_sync_to_async
def tokens_for(user):
    return services.issue_tokens(user)


@database_sync_to_async
def session_cookie_for(user):
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}".encode()


@database_sync_to_async
def deactivate(user):
    user.is_active = False
    user.save()


def run(coro_fn, *args):
    # async_to_sync runs thread-sensitive ORM calls on this (the test's) thread and connection.
    return async_to_sync(coro_fn)(*args)


def test_bearer_access_token_authenticates(user):
    async def scenario():
        tokens = await tokens_for(user)
        return await handshake([(b"authorization", f"Bearer {tokens['access']}".encode())])

    connected, _, message = run(scenario)
    assert connected and message == {"user": str(user.pk)}


def test_no_credentials_is_refused():
    connected, code, _ = run(handshake)
    assert not connected and code == 4401


@pytest.mark.parametrize("header", [b"Bearer not-a-jwt", b"Basic YWRhOnB3", b"Bearer "])
def test_bad_authorization_header_is_refused(header):
    connected, code, _ = run(handshake, [(b"authorization", header)])
    assert not connected and code == 4401


def test_refresh_token_is_not_an_access_token(user):
    async def scenario():
        tokens = await tokens_for(user)
        return await handshake([(b"authorization", f"Bearer {tokens['refresh']}".encode())])

    connected, code, _ = run(scenario)
    assert not connected and code == 4401


def test_token_of_a_deactivated_user_is_refused(user):
    async def scenario():
        tokens = await tokens_for(user)
        await deactivate(user)
        return await handshake([(b"authorization", f"Bearer {tokens['access']}".encode())])

    connected, code, _ = run(scenario)
    assert not connected and code == 4401


def test_session_cookie_authenticates(user):
    async def scenario():
        cookie = await session_cookie_for(user)
        return await handshake([(b"cookie", cookie)])

    connected, _, message = run(scenario)
    assert connected and message == {"user": str(user.pk)}


def test_invalid_bearer_does_not_fall_back_to_the_session(user):
    async def scenario():
        cookie = await session_cookie_for(user)
        return await handshake([(b"cookie", cookie), (b"authorization", b"Bearer forged")])

    connected, code, _ = run(scenario)
    assert not connected and code == 4401


def test_bearer_wins_over_the_session(user, make_user):
    other = make_user()

    async def scenario():
        cookie = await session_cookie_for(other)
        tokens = await tokens_for(user)
        return await handshake([(b"cookie", cookie), (b"authorization", f"Bearer {tokens['access']}".encode())])

    connected, _, message = run(scenario)
    assert connected and message == {"user": str(user.pk)}
