"""Django's auth signals, within this context only, turned into accounts events."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction

from apps.accounts import events
from apps.accounts.models import User
from apps.accounts.throttling import email_digest
from apps.common.events import publish


def _channel(request) -> events.Channel:
    path = getattr(request, "path", "") or ""
    if path.startswith("/api/"):
        return "api"
    if path.startswith("/admin/"):
        return "admin"
    return "web"


def on_logged_in(sender, request, user, **kwargs):
    with transaction.atomic():
        publish(events.UserLoggedIn(subject_id=str(user.pk), actor_id=str(user.pk), channel=_channel(request)))


def on_logged_out(sender, request, user, **kwargs):
    if user is None or not getattr(user, "pk", None):
        return
    with transaction.atomic():
        publish(events.UserLoggedOut(subject_id=str(user.pk), actor_id=str(user.pk), channel=_channel(request)))


def on_login_failed(sender, credentials, request=None, **kwargs):
    # ``credentials`` is already cleansed by Django (the password is masked); keep only the e-mail's hash.
    email = credentials.get("email") or credentials.get("username") or ""
    known = User.objects.filter(email__iexact=email.strip()).values_list("pk", flat=True).first() if email else None
    with transaction.atomic():
        publish(
            events.LoginFailed(
                subject_id=str(known) if known else None,
                email_sha256=email_digest(email),
                reason="invalid_credentials",
                channel=_channel(request),
            )
        )


def connect() -> None:
    user_logged_in.connect(on_logged_in, dispatch_uid="accounts.logged_in")
    user_logged_out.connect(on_logged_out, dispatch_uid="accounts.logged_out")
    user_login_failed.connect(on_login_failed, dispatch_uid="accounts.login_failed")
