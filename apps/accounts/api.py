"""Public interface of the accounts context. Ids and contracts in, contracts out."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from apps.accounts.contracts import UserInfo
from apps.accounts.models import User


def _to_info(user: User) -> UserInfo:
    return UserInfo(
        id=user.id,
        email=user.email,
        name=user.name,
        organisation=user.organisation,
        preferred_language=user.preferred_language,
        is_active=user.is_active,
        is_staff=user.is_staff,
        date_joined=user.date_joined,
    )


def get_users(*, ids: Iterable[uuid.UUID | str]) -> dict[uuid.UUID, UserInfo]:
    """Users by id in one query (missing ids are absent from the result)."""
    wanted = {uuid.UUID(str(i)) for i in ids}
    if not wanted:
        return {}
    return {u.id: _to_info(u) for u in User.objects.filter(id__in=wanted)}


def get_user(*, user_id: uuid.UUID | str) -> UserInfo | None:
    return get_users(ids=[user_id]).get(uuid.UUID(str(user_id)))


def find_user_by_email(*, email: str) -> UserInfo | None:
    """An active user with this e-mail (case-insensitive), for invitations."""
    user = User.objects.filter(email__iexact=(email or "").strip(), is_active=True).first()
    return _to_info(user) if user else None


def ensure_user(*, email: str, password: str, name: str = "", is_staff: bool = False) -> tuple[UserInfo, bool]:
    """Create the user if missing (used by demo seeding and tests). Returns (user, created)."""
    user = User.objects.filter(email__iexact=email).first()
    if user is not None:
        return _to_info(user), False
    user = User.objects.create_user(email=email, password=password, name=name, is_staff=is_staff, email_verified=True)
    return _to_info(user), True


def is_operator(*, user_id: uuid.UUID | str) -> bool:
    """Whether the user is an active operator (staff)."""
    return User.objects.filter(pk=uuid.UUID(str(user_id)), is_active=True, is_staff=True).exists()


def is_active_user(*, user_id: uuid.UUID | str) -> bool:
    return User.objects.filter(pk=uuid.UUID(str(user_id)), is_active=True).exists()


def find_users_by_emails(*, emails: Iterable[str]) -> dict[str, UserInfo]:
    """Active users by e-mail (case-insensitive), keyed by the normalised address, one query."""
    wanted = {(e or "").strip().lower() for e in emails} - {""}
    if not wanted:
        return {}
    from django.db.models.functions import Lower

    found = User.objects.annotate(email_lower=Lower("email")).filter(email_lower__in=wanted, is_active=True)
    return {u.email_lower: _to_info(u) for u in found}
