"""Signed, single-use links (Django's token machinery) and the JWT refresh-token family claim."""

from __future__ import annotations

from django.contrib.auth.tokens import PasswordResetTokenGenerator

#: Claim carried by every refresh token (and copied into its access tokens): the login it
#: descends from. All rotations of one login share it; reuse of a rotated token revokes it.
FAMILY_CLAIM = "fam"


class EmailVerificationTokenGenerator(PasswordResetTokenGenerator):
    """Like the password-reset generator, with its own salt; used once (the hash includes
    ``email_verified``, which the link flips) and expiring after ``PASSWORD_RESET_TIMEOUT``."""

    key_salt = "apps.accounts.tokens.EmailVerificationTokenGenerator"

    def _make_hash_value(self, user, timestamp):
        return f"{user.pk}{user.email}{user.email_verified}{user.is_active}{timestamp}"


email_verification_token = EmailVerificationTokenGenerator()
