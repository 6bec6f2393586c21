"""The REST doors under /api/v1/auth/: register, token, refresh rotation, logout, me, reset."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from apps.accounts.tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
LOGOUT = "/api/v1/auth/logout/"
ME = "/api/v1/auth/me/"
RESET = "/api/v1/auth/password_reset/"


def obtain(client, email="ada@example.org", password=PASSWORD):
    return client.post(TOKEN, {"email": email, "password": password}, format="json")


def bearer(client, access):
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


# --- register ---------------------------------------------------------------------------------


def test_register_creates_account_and_mails_verification(api_client, published, argon2):
    response = api_client.post(
        REGISTER, {"email": "New.Person@Example.org", "password": "a-long-unusual-pass-77", "name": "New"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "new.person@example.org"
    assert body["name"] == "New"
    assert body["email_verified"] is False
    assert "password" not in body
    user = get_user_model().objects.get(email="new.person@example.org")
    assert user.password.startswith("argon2")
    assert str(user.id) == body["id"]
    assert published.named("accounts.user.registered")[0].subject_id == body["id"]
    assert len(mail.outbox) == 1 and "/accounts/verify/" in mail.outbox[0].body


def test_register_rejects_weak_password_and_duplicate_without_leaving_anything(api_client, user):
    weak = api_client.post(REGISTER, {"email": "weak@example.org", "password": "123"}, format="json")
    assert weak.status_code == 400
    assert weak.json()["code"] == "invalid" and "password" in weak.json()["errors"]
    dup = api_client.post(REGISTER, {"email": "ADA@example.org", "password": "a-long-unusual-pass-77"}, format="json")
    assert dup.status_code == 400 and "email" in dup.json()["errors"]
    bad = api_client.post(REGISTER, {"email": "not-an-email", "password": "a-long-unusual-pass-77"}, format="json")
    assert bad.status_code == 400 and "email" in bad.json()["errors"]
    assert get_user_model().objects.count() == 1
    assert mail.outbox == []


# --- token ------------------------------------------------------------------------------------


def test_token_and_me(api_client, user, published):
    response = obtain(api_client, email="ADA@example.org ")
    assert response.status_code == 200, response.content
    tokens = response.json()
    assert set(tokens) == {"access", "refresh"}
    assert published.named("accounts.user.logged_in")[0].subject_id == str(user.id)
    me = bearer(api_client, tokens["access"]).get(ME)
    assert me.status_code == 200
    assert me.json()["email"] == "ada@example.org" and me.json()["id"] == str(user.id)


def test_me_requires_authentication(api_client):
    response = api_client.get(ME)
    assert response.status_code == 401
    bearer(api_client, "not-a-jwt")
    assert api_client.get(ME).status_code == 401


def test_me_patch_edits_profile_only(api_client, user):
    bearer(api_client, obtain(api_client).json()["access"])
    response = api_client.patch(
        ME, {"name": "Ada L.", "organisation": "Lab", "preferred_language": "cs", "email": "x@y.org", "is_staff": True},
        format="json",
    )
    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert (user.name, user.organisation, user.preferred_language) == ("Ada L.", "Lab", "cs")
    assert user.email == "ada@example.org" and user.is_staff is False
    bad = api_client.patch(ME, {"preferred_language": "xx"}, format="json")
    assert bad.status_code == 400 and "preferred_language" in bad.json()["errors"]
    user.refresh_from_db()
    assert user.preferred_language == "cs"


def test_wrong_password_and_unknown_email_get_identical_401(api_client, user, published):
    wrong = obtain(api_client, password="not-the-password-1")
    unknown = obtain(api_client, email="nobody@example.org")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.content == unknown.content
    assert wrong.json()["code"] == "invalid_credentials"
    assert wrong["WWW-Authenticate"] == unknown["WWW-Authenticate"]
    failed = published.named("accounts.login.failed")
    assert [e.subject_id for e in failed] == [str(user.id), None]
    assert all(e.outcome == "failed" and e.channel == "api" and len(e.email_sha256) == 64 for e in failed)
    assert "not-the-password-1" not in repr(failed)


def test_inactive_account_gets_the_same_401(api_client, user):
    user.is_active = False
    user.save()
    wrong = obtain(api_client, password="not-the-password-1")
    assert obtain(api_client).content == wrong.content


def test_unverified_account_refused_when_verification_required(api_client, make_user, settings, published):
    settings.ACCOUNTS_REQUIRE_EMAIL_VERIFICATION = True
    make_user(email="unverified@example.org", email_verified=False)
    # Wrong password: the generic 401, nothing says the account exists.
    assert obtain(api_client, email="unverified@example.org", password="nope-nope-nope").status_code == 401
    right = obtain(api_client, email="unverified@example.org")
    assert right.status_code == 403 and right.json()["code"] == "email_not_verified"
    assert published.named("accounts.login.failed")[-1].reason == "email_not_verified"
    assert len(mail.outbox) == 1  # a fresh link
    settings.ACCOUNTS_REQUIRE_EMAIL_VERIFICATION = False
    assert obtain(api_client, email="unverified@example.org").status_code == 200


def test_token_is_throttled_per_account_with_retry_after(api_client, user, settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**rates, "auth_account": "3/min"}}
    try:
        for _ in range(3):
            assert obtain(api_client, password="wrong-password-x").status_code == 401
        blocked = obtain(api_client)  # even the right password, from any address
        assert blocked.status_code == 429
        assert int(blocked["Retry-After"]) > 0
        assert blocked.json()["code"] == "throttled"
        # Another account from the same address is not blocked by this account's count.
        assert obtain(api_client, email="other@example.org").status_code == 401
    finally:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


def test_token_is_throttled_per_ip(api_client, settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**rates, "auth_ip": "2/min"}}
    try:
        assert obtain(api_client, email="a@example.org").status_code == 401
        assert obtain(api_client, email="b@example.org").status_code == 401
        third = api_client.post(REGISTER, {"email": "c@example.org", "password": "a-long-unusual-pass-77"}, format="json")
        assert third.status_code == 429 and "Retry-After" in third
        other_ip = api_client.post(
            TOKEN, {"email": "c@example.org", "password": "x"}, format="json", REMOTE_ADDR="10.9.8.7"
        )
        assert other_ip.status_code == 401
    finally:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


# --- refresh rotation and families ------------------------------------------------------------


def test_refresh_rotates_and_old_refresh_is_refused(api_client, user):
    first = obtain(api_client).json()
    rotated = api_client.post(REFRESH, {"refresh": first["refresh"]}, format="json")
    assert rotated.status_code == 200, rotated.content
    second = rotated.json()
    assert set(second) == {"access", "refresh"} and second["refresh"] != first["refresh"]
    assert bearer(api_client, second["access"]).get(ME).status_code == 200
    api_client.credentials()
    again = api_client.post(REFRESH, {"refresh": first["refresh"]}, format="json")
    assert again.status_code == 401
    assert again.json()["code"] == "token_not_valid"


def test_reuse_of_a_rotated_token_revokes_the_whole_family(api_client, user, published):
    first = obtain(api_client).json()
    other_login = obtain(api_client).json()  # a second login (family) of the same user
    second = api_client.post(REFRESH, {"refresh": first["refresh"]}, format="json").json()
    # An attacker replays the first token: refused, and the family is revoked ...
    assert api_client.post(REFRESH, {"refresh": first["refresh"]}, format="json").status_code == 401
    revoked = published.named("accounts.token_family.revoked")
    assert len(revoked) == 1 and revoked[0].reason == "reuse" and revoked[0].revoked == 1
    assert revoked[0].subject_id == str(user.id)
    # ... so the legitimate newest token no longer works either.
    assert api_client.post(REFRESH, {"refresh": second["refresh"]}, format="json").status_code == 401
    # The other login (another family) is untouched.
    assert api_client.post(REFRESH, {"refresh": other_login["refresh"]}, format="json").status_code == 200


def test_refresh_rejects_garbage_access_tokens_and_inactive_users(api_client, user):
    tokens = obtain(api_client).json()
    assert api_client.post(REFRESH, {"refresh": "garbage"}, format="json").status_code == 401
    assert api_client.post(REFRESH, {"refresh": tokens["access"]}, format="json").status_code == 401
    assert api_client.post(REFRESH, {}, format="json").status_code == 401
    user.is_active = False
    user.save()
    assert api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 401


def test_logout_revokes_the_refresh_token(api_client, user, published):
    tokens = obtain(api_client).json()
    response = api_client.post(LOGOUT, {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 204
    assert published.named("accounts.user.logged_out")[0].channel == "api"
    assert api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 401
    assert api_client.post(LOGOUT, {"refresh": "garbage"}, format="json").status_code == 401


def test_password_change_revokes_refresh_tokens(api_client, user):
    from apps.accounts import services

    tokens = obtain(api_client).json()
    user.set_password("another-long-pass-42")
    user.save()
    services.password_changed(user, via_reset=False)
    assert api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 401


# --- password reset ---------------------------------------------------------------------------


def test_password_reset_answers_the_same_for_known_and_unknown(api_client, user, published):
    known = api_client.post(RESET, {"email": "ada@example.org"}, format="json")
    unknown = api_client.post(RESET, {"email": "nobody@example.org"}, format="json")
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    assert "if an account exists" in known.json()["detail"].lower()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ada@example.org"]
    assert PASSWORD not in mail.outbox[0].body
    assert "/accounts/reset/" in mail.outbox[0].body
    requested = published.named("accounts.password_reset.requested")
    assert [e.subject_id for e in requested] == [str(user.id), None]


# --- schema -----------------------------------------------------------------------------------


def test_openapi_schema_documents_the_auth_endpoints(api_client):
    response = api_client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ("register/", "token/", "token/refresh/", "logout/", "me/", "password_reset/"):
        assert f"/api/v1/auth/{path}" in paths
    token = paths["/api/v1/auth/token/"]["post"]
    assert set(token["responses"]) >= {"200", "401", "429"}
    assert "requestBody" in token
