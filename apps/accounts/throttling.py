"""Throttles for the sign-in doors, per client IP and per submitted account (cache-backed).

Used by the REST views (``throttle_classes``) and by the HTML forms (:func:`check_page`).
Rates are the DRF scopes ``auth_ip`` and ``auth_account`` (settings ``THROTTLE_AUTH_IP`` and
``THROTTLE_AUTH_ACCOUNT``). The account key is the SHA-256 of the normalised e-mail, so an
unknown address and a known one are throttled alike (no enumeration through 429s).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


def email_digest(email: str | None) -> str:
    return hashlib.sha256((email or "").strip().lower().encode()).hexdigest()


def _namespace() -> str:
    # Tests set a fresh namespace per test so counts never leak between tests.
    return getattr(settings, "ACCOUNTS_THROTTLE_NAMESPACE", "")


def _submitted_email(request) -> str | None:
    data = getattr(request, "data", None)
    if data is None:
        data = request.POST
    for field in ("email", "username"):
        try:
            value = data.get(field)
        except AttributeError:
            return None
        if isinstance(value, str) and value.strip():
            return value
    return None


class _AuthThrottle(SimpleRateThrottle):
    def get_rate(self):
        # Read at request time (DRF reads rates once at import), so a settings change applies.
        return settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).get(self.scope)


class AuthIPThrottle(_AuthThrottle):
    """Every attempt from one client address."""

    scope = "auth_ip"

    def get_cache_key(self, request, view):
        return f"throttle:{_namespace()}:{self.scope}:{self.get_ident(request)}"


class AuthAccountThrottle(_AuthThrottle):
    """Every attempt on one submitted e-mail, whichever address it comes from."""

    scope = "auth_account"

    def get_cache_key(self, request, view):
        email = _submitted_email(request)
        if email is None:
            return None  # nothing to key on: the IP throttle still applies
        return f"throttle:{_namespace()}:{self.scope}:{email_digest(email)}"


AUTH_THROTTLES = (AuthIPThrottle, AuthAccountThrottle)


def check_page(request) -> int | None:
    """For HTML forms: ``None`` when allowed, else the seconds to wait (``Retry-After``)."""
    waits = []
    for throttle_class in AUTH_THROTTLES:
        throttle = throttle_class()
        if not throttle.allow_request(request, None):
            waits.append(throttle.wait() or 1)
    if not waits:
        return None
    return max(1, int(max(waits) + 0.999))
