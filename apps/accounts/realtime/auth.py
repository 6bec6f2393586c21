"""Websocket authentication: ``Authorization: Bearer <access JWT>`` on the handshake, else the
session user that ``channels.auth.AuthMiddlewareStack`` resolved from the cookie.

A Bearer header that does not validate (bad signature, expired, refresh token, inactive or
deleted user) gives an ``AnonymousUser``: it never falls back to the session. Consumers refuse
anonymous users (close code 4401/4403). Tokens in the query string are not accepted: URLs end
up in logs.

Use :func:`JWTAuthMiddlewareStack` instead of ``AuthMiddlewareStack``.
"""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser


def _bearer(scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization":
            kind, _, token = value.decode("latin-1").partition(" ")
            if kind.lower() == "bearer" and token.strip():
                return token.strip()
            return ""  # an Authorization header that is not a Bearer token: refused
    return None


@database_sync_to_async
def user_for_access_token(raw: str):
    from rest_framework.exceptions import AuthenticationFailed
    from rest_framework_simplejwt.authentication import JWTAuthentication
    from rest_framework_simplejwt.exceptions import TokenError

    auth = JWTAuthentication()
    try:
        return auth.get_user(auth.get_validated_token(raw.encode()))
    except (TokenError, AuthenticationFailed):
        return AnonymousUser()


class JWTAuthMiddleware(BaseMiddleware):
    """Replaces ``scope["user"]`` when the handshake carries an Authorization header."""

    async def __call__(self, scope, receive, send):
        raw = _bearer(scope)
        if raw is not None:
            scope = dict(scope)
            scope["user"] = await user_for_access_token(raw) if raw else AnonymousUser()
        return await super().__call__(scope, receive, send)


def JWTAuthMiddlewareStack(inner):
    """Session/cookie authentication first, then a Bearer header overrides it."""
    return AuthMiddlewareStack(JWTAuthMiddleware(inner))
