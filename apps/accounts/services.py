"""Writes of the accounts context: sign-up, sign-in, tokens, passwords, profile, deletion.

Views (HTML and REST) stay thin and call these functions. Every state change publishes its
event (``apps.accounts.events``) inside the transaction of the change.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import update_last_login
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from rest_framework_simplejwt.exceptions import TokenBackendError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from apps.accounts import events
from apps.accounts.models import User, UserManager
from apps.accounts.throttling import email_digest
from apps.accounts.tokens import FAMILY_CLAIM, email_verification_token
from apps.common.events import publish

logger = logging.getLogger(__name__)

GENERIC_CREDENTIALS_ERROR = "No active account found with the given credentials."
UNVERIFIED_ERROR = "Confirm your e-mail address first: we have sent you a new link."


class RefreshTokenError(Exception):
    """The refresh token is invalid, expired, revoked or already used (answer 401)."""


normalize_email = UserManager.normalize_email_address


def verification_required() -> bool:
    return bool(getattr(settings, "ACCOUNTS_REQUIRE_EMAIL_VERIFICATION", False))


def login_allowed(user: User) -> bool:
    return user.is_active and (user.email_verified or not verification_required())


def _site_url(request=None) -> str:
    if request is not None:
        return request.build_absolute_uri("/").rstrip("/")
    return settings.SITE_URL.rstrip("/")


# --- Sign-up and e-mail verification ---------------------------------------------------------


def register_user(
    *,
    email: str,
    password: str,
    name: str = "",
    organisation: str = "",
    preferred_language: str | None = None,
    channel: events.Channel = "web",
    request=None,
) -> User:
    """Create an account (Argon2 hash, Django's validators) and mail its verification link.

    Raises ``ValidationError`` with a dict of field errors.
    """
    email = normalize_email(email)
    candidate = User(email=email, name=name, organisation=organisation)
    errors: dict[str, list[str]] = {}
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        errors["password"] = list(exc.messages)
    if User.objects.filter(email__iexact=email).exists():
        errors["email"] = ["An account with this e-mail address already exists."]
    if errors:
        raise ValidationError(errors)
    extra = {"preferred_language": preferred_language} if preferred_language else {}
    with transaction.atomic():
        user = User.objects.create_user(email=email, password=password, name=name, organisation=organisation, **extra)
        publish(events.UserRegistered(subject_id=str(user.id), actor_id=str(user.id), channel=channel))
    send_verification_email(user, request=request)  # after the account's transaction
    return user


def send_verification_email(user: User, *, request=None) -> None:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = email_verification_token.make_token(user)
    link = _site_url(request) + reverse("accounts:verify_email", kwargs={"uidb64": uid, "token": token})
    ctx = {"user": user, "link": link, "hours": max(1, settings.PASSWORD_RESET_TIMEOUT // 3600)}
    subject = render_to_string("accounts/email/verify_email_subject.txt", ctx).strip()
    body = render_to_string("accounts/email/verify_email.txt", ctx)
    send_mail(subject, body, None, [user.email])


def user_from_uidb64(uidb64: str) -> User | None:
    try:
        pk = uuid.UUID(urlsafe_base64_decode(uidb64).decode())
    except (TypeError, ValueError, OverflowError, UnicodeDecodeError):
        return None
    return User.objects.filter(pk=pk).first()


def verify_email(*, uidb64: str, token: str) -> User | None:
    """Mark the address verified if the link is valid (single use, expiring). ``None`` if not."""
    user = user_from_uidb64(uidb64)
    if user is None or not email_verification_token.check_token(user, token):
        return None
    with transaction.atomic():
        user.email_verified = True
        user.save(update_fields=["email_verified"])
        publish(events.EmailVerified(subject_id=str(user.id), actor_id=str(user.id)))
    return user


# --- Sign-in ---------------------------------------------------------------------------------


def authenticate_credentials(*, request, email: str, password: str) -> User | None:
    """The user for these credentials, or ``None`` (Django's backends; failures are published
    by the ``user_login_failed`` receiver). Inactive accounts are refused like wrong passwords."""
    return authenticate(request, email=normalize_email(email), password=password)


def refuse_unverified(user: User, *, channel: events.Channel, request=None) -> None:
    """Record a refused login of an unverified account and mail a fresh link."""
    publish(
        events.LoginFailed(
            subject_id=str(user.id),
            actor_id=str(user.id),
            email_sha256=email_digest(user.email),
            reason="email_not_verified",
            channel=channel,
        )
    )
    send_verification_email(user, request=request)


def issue_tokens(user: User) -> dict[str, str]:
    """A new token family for an API login: ``{"access", "refresh"}``."""
    with transaction.atomic():
        refresh = RefreshToken()
        refresh[jwt_settings.USER_ID_CLAIM] = str(user.id)
        refresh[FAMILY_CLAIM] = uuid.uuid4().hex
        refresh.outstand()
        update_last_login(None, user)
        publish(events.UserLoggedIn(subject_id=str(user.id), actor_id=str(user.id), channel="api"))
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def _decode_refresh(raw: str) -> dict:
    try:
        payload = token_backend.decode(raw, verify=True)  # signature and expiry
    except TokenBackendError as exc:
        raise RefreshTokenError("Token is invalid or expired.") from exc
    if payload.get(jwt_settings.TOKEN_TYPE_CLAIM) != "refresh" or not payload.get(jwt_settings.JTI_CLAIM):
        raise RefreshTokenError("Token is invalid or expired.")
    return payload


def _spend(payload: dict) -> OutstandingToken | None:
    """Blacklist the token; ``None`` if it was already spent (a reuse)."""
    outstanding = OutstandingToken.objects.filter(jti=payload[jti_claim()]).first()
    if outstanding is None:
        raise RefreshTokenError("Token is invalid or expired.")
    _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
    return outstanding if created else None


def jti_claim() -> str:
    return jwt_settings.JTI_CLAIM


def rotate_refresh_token(raw: str) -> dict[str, str]:
    """Spend ``raw`` and return a new ``{"access", "refresh"}`` of the same family.

    A token that was already spent (rotated or logged out) revokes its whole family and is
    refused: whoever holds the newer tokens (the thief or the victim) must log in again.
    """
    payload = _decode_refresh(raw)
    user_id = payload.get(jwt_settings.USER_ID_CLAIM)
    reused = False
    with transaction.atomic():
        if _spend(payload) is None:
            reused = True
            revoke_family(user_id=user_id, family=payload.get(FAMILY_CLAIM), reason="reuse")
        else:
            user = User.objects.filter(pk=user_id).first()
            if user is None or not login_allowed(user):
                reused = None  # spent, but no new token for a missing/inactive account
            else:
                new = RefreshToken()
                new.payload = dict(payload)
                new.set_jti()
                new.set_exp()
                new.set_iat()
                new.outstand()
    if reused is True:
        raise RefreshTokenError("Token has already been used; every session of this login is now revoked.")
    if reused is None:
        raise RefreshTokenError("No active account found for the given token.")
    return {"access": str(new.access_token), "refresh": str(new)}


def revoke_refresh_token(raw: str) -> None:
    """API logout: spend the refresh token (a reuse revokes the family and is refused)."""
    payload = _decode_refresh(raw)
    user_id = payload.get(jwt_settings.USER_ID_CLAIM)
    with transaction.atomic():
        if _spend(payload) is None:
            revoke_family(user_id=user_id, family=payload.get(FAMILY_CLAIM), reason="reuse")
            reused = True
        else:
            reused = False
            publish(events.UserLoggedOut(subject_id=str(user_id), actor_id=str(user_id), channel="api"))
    if reused:
        raise RefreshTokenError("Token has already been used; every session of this login is now revoked.")


def revoke_family(*, user_id, family: str | None, reason: str, actor_id: str | None = None) -> int:
    """Blacklist every live refresh token of ``user_id`` in ``family`` (all when ``None``)."""
    if not user_id:
        return 0
    count = 0
    with transaction.atomic():
        live = OutstandingToken.objects.filter(
            user_id=user_id, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
        )
        for outstanding in live:
            if family is not None:
                try:
                    claims = token_backend.decode(outstanding.token, verify=False)
                except TokenBackendError:
                    continue
                if claims.get(FAMILY_CLAIM) != family:
                    continue
            BlacklistedToken.objects.get_or_create(token=outstanding)
            count += 1
        publish(
            events.TokenFamilyRevoked(
                subject_id=str(user_id),
                actor_id=actor_id,
                family=family or "*",
                reason=reason,
                revoked=count,
            )
        )
    logger.warning("refresh token family revoked (reason=%s, revoked=%d)", reason, count)
    return count


def revoke_all_refresh_tokens(*, user_id, reason: str, actor_id: str | None = None) -> int:
    return revoke_family(user_id=user_id, family=None, reason=reason, actor_id=actor_id)


# --- Passwords -------------------------------------------------------------------------------


def password_changed(user: User, *, via_reset: bool) -> None:
    """After a password change or reset: publish, and sign out every API session."""
    with transaction.atomic():
        if via_reset:
            publish(events.PasswordResetCompleted(subject_id=str(user.id), actor_id=str(user.id)))
            if not user.email_verified:
                # Following the mailed link proved the address.
                user.email_verified = True
                user.save(update_fields=["email_verified"])
        else:
            publish(events.PasswordChanged(subject_id=str(user.id), actor_id=str(user.id)))
        revoke_all_refresh_tokens(user_id=user.id, reason="password_changed", actor_id=str(user.id))


def request_password_reset(*, email: str, request, channel: events.Channel = "web") -> None:
    """Mail a single-use reset link if an active account has this e-mail. Always silent."""
    from django.contrib.auth.forms import PasswordResetForm

    email = normalize_email(email)
    form = PasswordResetForm(data={"email": email})
    if not form.is_valid():
        return
    known = User.objects.filter(email__iexact=email, is_active=True).first()
    with transaction.atomic():
        publish(
            events.PasswordResetRequested(
                subject_id=str(known.id) if known else None,
                email_sha256=email_digest(email),
                channel=channel,
            )
        )
    form.save(
        request=request,
        use_https=request.is_secure(),
        subject_template_name="accounts/email/password_reset_subject.txt",
        email_template_name="accounts/email/password_reset.txt",
    )


# --- Profile, activation, deletion -----------------------------------------------------------

PROFILE_FIELDS = ("name", "organisation", "preferred_language")


def update_profile(user: User, **changes) -> User:
    fields = [f for f in PROFILE_FIELDS if f in changes]
    for field in fields:
        setattr(user, field, changes[field])
    if fields:
        user.full_clean(exclude=["password"])
        user.save(update_fields=fields)
    return user


def set_active(*, user_ids: Iterable, active: bool, actor_id: str | None = None) -> int:
    """Activate or deactivate accounts (admin); deactivation revokes their API sessions."""
    changed = 0
    with transaction.atomic():
        for user in User.objects.select_for_update().filter(pk__in=list(user_ids)).exclude(is_active=active):
            user.is_active = active
            user.save(update_fields=["is_active"])
            publish(events.UserActivationChanged(subject_id=str(user.id), actor_id=actor_id, is_active=active))
            if not active:
                revoke_all_refresh_tokens(user_id=user.id, reason="deactivated", actor_id=actor_id)
            changed += 1
    return changed


def delete_account(user: User, *, password: str, actor_id: str | None = None) -> bool:
    """Delete the account after checking its password. ``False`` on a wrong password.

    The row is deleted (not anonymised): nothing personal stays behind. Other contexts hold
    only the user's id and react to ``accounts.user.deleted`` (published in the transaction).
    """
    if not user.check_password(password):
        return False
    user_id = str(user.id)
    with transaction.atomic():
        publish(
            events.UserDeleted(subject_id=user_id, actor_id=actor_id or user_id, email_sha256=email_digest(user.email))
        )
        User.objects.filter(pk=user.pk).delete()
    return True
