"""Admin, the public api.py, the log redaction filter and the event catalogue."""

from __future__ import annotations

import logging
import uuid

import pytest
from django.contrib.auth import get_user_model

from apps.accounts import api, events, services
from apps.accounts.contracts import UserInfo
from apps.accounts.logging import RedactSecretsFilter, redact
from apps.accounts.tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


# --- admin ------------------------------------------------------------------------------------


@pytest.fixture
def operator_client(client, make_user):
    operator = make_user(email="op@example.org", is_staff=True, is_superuser=True)
    client.force_login(operator)
    client.operator = operator
    return client


def test_admin_change_page_shows_no_password_hash(operator_client, user):
    response = operator_client.get(f"/admin/accounts/user/{user.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert user.password not in html
    assert "md5$" not in html and "argon2" not in html
    assert f"/admin/accounts/user/{user.pk}/password/" in html
    assert operator_client.get(f"/admin/accounts/user/{user.pk}/password/").status_code == 200


def test_admin_search_by_email_and_name(operator_client, user, make_user):
    make_user(email="grace@example.org", name="Grace Hopper")
    by_name = operator_client.get("/admin/accounts/user/", {"q": "hopper"}).content.decode()
    assert "grace@example.org" in by_name and "ada@example.org" not in by_name
    by_email = operator_client.get("/admin/accounts/user/", {"q": "ada@"}).content.decode()
    assert "ada@example.org" in by_email and "grace@example.org" not in by_email
    filtered = operator_client.get("/admin/accounts/user/", {"is_staff__exact": "1"}).content.decode()
    assert "op@example.org" in filtered and "ada@example.org" not in filtered


def test_admin_deactivate_and_activate_actions(operator_client, user, api_client, published):
    tokens = api_client.post("/api/v1/auth/token/", {"email": user.email, "password": PASSWORD}, format="json").json()
    ids = [str(user.pk), str(operator_client.operator.pk)]
    response = operator_client.post(
        "/admin/accounts/user/", {"action": "deactivate_users", "_selected_action": ids}, follow=True
    )
    assert response.status_code == 200
    user.refresh_from_db()
    operator_client.operator.refresh_from_db()
    assert user.is_active is False
    assert operator_client.operator.is_active is True  # never locks oneself out
    assert api_client.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json").status_code == 401
    assert published.named("accounts.user.activation_changed")[0].actor_id == str(operator_client.operator.pk)
    operator_client.post("/admin/accounts/user/", {"action": "activate_users", "_selected_action": [str(user.pk)]})
    user.refresh_from_db()
    assert user.is_active is True


def test_admin_is_closed_to_non_staff(client, user):
    client.force_login(user)
    assert client.get("/admin/accounts/user/").status_code == 302


# --- api.py -----------------------------------------------------------------------------------


def test_batch_getters_return_contracts(user, make_user, django_assert_max_num_queries):
    other = make_user(is_staff=True)
    with django_assert_max_num_queries(1):
        found = api.get_users(ids=[user.pk, str(other.pk), uuid.uuid4()])
    assert set(found) == {user.pk, other.pk}
    assert all(isinstance(v, UserInfo) for v in found.values())
    assert api.get_user(user_id=uuid.uuid4()) is None
    assert api.find_user_by_email(email=" ADA@example.org ").id == user.pk
    assert api.is_operator(user_id=other.pk) and not api.is_operator(user_id=user.pk)
    assert api.is_active_user(user_id=user.pk)
    assert set(api.find_users_by_emails(emails=["Ada@Example.org", "nobody@example.org"])) == {"ada@example.org"}


def test_find_user_by_email_ignores_inactive(user):
    user.is_active = False
    user.save()
    assert api.find_user_by_email(email=user.email) is None
    assert not api.is_active_user(user_id=user.pk)


def test_ensure_user_is_idempotent():
    first, created = api.ensure_user(email="Demo@Example.org", password="demo-long-pass-1")
    again, created_again = api.ensure_user(email="demo@example.org", password="whatever")
    assert created and not created_again and first.id == again.id


def test_delete_account_service(user, published):
    assert services.delete_account(user, password="wrong") is False
    assert get_user_model().objects.filter(pk=user.pk).exists()
    assert services.delete_account(user, password=PASSWORD) is True
    assert not get_user_model().objects.filter(pk=user.pk).exists()
    event = published.named("accounts.user.deleted")[0]
    assert event.to_dict()["subject_id"] == str(user.pk)


# --- logging ----------------------------------------------------------------------------------


SECRETS = [
    ('login with password=hunter2-long', "hunter2-long"),
    ('{"email": "a@b.org", "password": "s3cret-value"}', "s3cret-value"),
    ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
    ("refresh=eyJhbGciOiJIUzI1NiJ9.eyJ0b2tlbiI6MX0.sig-part_1", "eyJhbGciOiJIUzI1NiJ9"),
    ('"GET /accounts/reset/MTIz/cl4k2c-0123456789abcdef/ HTTP/1.1" 302', "cl4k2c-0123456789abcdef"),
    ("GET /accounts/verify/MTIz/cl4k2c-abcdef0123/", "cl4k2c-abcdef0123"),
]


@pytest.mark.parametrize(("line", "secret"), SECRETS)
def test_redact_masks_secrets(line, secret):
    assert secret not in redact(line)
    assert "[redacted]" in redact(line)


def test_redact_leaves_ordinary_lines():
    line = "GET /accounts/reset/MTIz/set-password/ 200 user=42 project=7"
    assert redact(line) == line


def test_filter_rewrites_records_with_arguments():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "payload %s", ({"password": "p4ss-word"},), None)
    assert RedactSecretsFilter().filter(record)
    assert "p4ss-word" not in record.getMessage()


def test_no_secret_reaches_the_log_in_a_real_flow(api_client, user, caplog):
    caplog.set_level(logging.DEBUG)
    handler_filter = RedactSecretsFilter()
    tokens = api_client.post("/api/v1/auth/token/", {"email": user.email, "password": PASSWORD}, format="json").json()
    api_client.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    api_client.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")  # reuse
    api_client.post("/api/v1/auth/token/", {"email": user.email, "password": "wrong-pass-77"}, format="json")
    lines = []
    for record in caplog.records:
        handler_filter.filter(record)
        lines.append(record.getMessage())
    text = "\n".join(lines)
    assert "refresh token family revoked" in text
    for secret in (PASSWORD, "wrong-pass-77", tokens["refresh"], tokens["access"]):
        assert secret not in text


# --- events -----------------------------------------------------------------------------------


def test_event_catalogue():
    names = {cls.name for cls in vars(events).values() if isinstance(cls, type) and getattr(cls, "name", "")}
    assert names >= {
        "accounts.user.registered",
        "accounts.user.logged_in",
        "accounts.login.failed",
        "accounts.user.logged_out",
        "accounts.password.changed",
        "accounts.password_reset.requested",
        "accounts.password_reset.completed",
        "accounts.email.verified",
        "accounts.token_family.revoked",
        "accounts.user.deleted",
    }
    failed = events.LoginFailed(email_sha256="0" * 64)
    assert failed.outcome == "failed" and failed.to_dict()["subject_type"] == "accounts.user"
