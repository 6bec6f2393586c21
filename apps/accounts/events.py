"""Public events of the accounts context (subscribe with ``apps.common.events.subscribe``).

Every event is about a user: ``subject_id`` is the user's id (``None`` for a failed login on
an unknown e-mail), ``actor_id`` who did it (the user, an operator, or ``None``). No event ever
carries a password, a token or a link: a failed login carries the SHA-256 of the normalised
e-mail it was attempted with, so attempts on one address can be correlated without storing it.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from apps.common.events import Event

Channel = Literal["web", "api", "admin", "system"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class UserEvent(Event):
    subject_type: ClassVar[str] = "accounts.user"


@dataclasses.dataclass(frozen=True, kw_only=True)
class UserRegistered(UserEvent):
    name: ClassVar[str] = "accounts.user.registered"
    channel: Channel = "web"


@dataclasses.dataclass(frozen=True, kw_only=True)
class UserLoggedIn(UserEvent):
    name: ClassVar[str] = "accounts.user.logged_in"
    channel: Channel = "web"


@dataclasses.dataclass(frozen=True, kw_only=True)
class LoginFailed(UserEvent):
    """A wrong password, an unknown e-mail, an inactive or unverified account (``reason``)."""

    name: ClassVar[str] = "accounts.login.failed"
    email_sha256: str = ""
    reason: str = "invalid_credentials"
    channel: Channel = "web"
    outcome: Literal["success", "denied", "failed"] = "failed"


@dataclasses.dataclass(frozen=True, kw_only=True)
class UserLoggedOut(UserEvent):
    name: ClassVar[str] = "accounts.user.logged_out"
    channel: Channel = "web"


@dataclasses.dataclass(frozen=True, kw_only=True)
class PasswordChanged(UserEvent):
    name: ClassVar[str] = "accounts.password.changed"


@dataclasses.dataclass(frozen=True, kw_only=True)
class PasswordResetRequested(UserEvent):
    """Published for every request; ``subject_id`` is set only when the account exists."""

    name: ClassVar[str] = "accounts.password_reset.requested"
    email_sha256: str = ""
    channel: Channel = "web"


@dataclasses.dataclass(frozen=True, kw_only=True)
class PasswordResetCompleted(UserEvent):
    name: ClassVar[str] = "accounts.password_reset.completed"


@dataclasses.dataclass(frozen=True, kw_only=True)
class EmailVerified(UserEvent):
    name: ClassVar[str] = "accounts.email.verified"


@dataclasses.dataclass(frozen=True, kw_only=True)
class TokenFamilyRevoked(UserEvent):
    """A rotated refresh token was presented again: every token of its family is revoked.

    ``reason`` is ``"reuse"`` (a stolen or replayed token), ``"password_changed"``,
    ``"deactivated"`` or ``"logout_all"``; ``revoked`` counts the refresh tokens blacklisted.
    """

    name: ClassVar[str] = "accounts.token_family.revoked"
    family: str = ""
    reason: str = "reuse"
    revoked: int = 0
    outcome: Literal["success", "denied", "failed"] = "denied"


@dataclasses.dataclass(frozen=True, kw_only=True)
class UserActivationChanged(UserEvent):
    name: ClassVar[str] = "accounts.user.activation_changed"
    is_active: bool = True


@dataclasses.dataclass(frozen=True, kw_only=True)
class UserDeleted(UserEvent):
    """The account is gone: subscribers delete or anonymise what ``subject_id`` owned.

    Published inside the deleting transaction; after-commit subscribers run once the row is
    deleted. Handlers must be idempotent and must not call back into accounts for this user.
    """

    name: ClassVar[str] = "accounts.user.deleted"
    email_sha256: str = ""
