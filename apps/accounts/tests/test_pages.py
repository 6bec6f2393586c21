"""Server-rendered pages under /accounts/ (Django test client, CSRF enforced)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

from apps.accounts.tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    return Client(enforce_csrf_checks=True)


def csrf_post(client, url, data, **extra):
    """GET the page first (like a browser) and send its CSRF token back."""
    page = client.get(url)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert token, f"no CSRF token on {url}"
    return client.post(url, {**data, "csrfmiddlewaretoken": token.group(1)}, **extra)


def link_from_mail(message) -> str:
    return re.search(r"https?://[^/\s]+(/\S+)", message.body).group(1)


@pytest.mark.parametrize(
    "name", ["login", "signup", "password_reset", "password_reset_done", "password_reset_complete"]
)
def test_public_pages_render_with_labels_and_csp(client, name):
    response = client.get(reverse(f"accounts:{name}"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script" not in html  # strict CSP: no inline scripts
    assert "Content-Security-Policy" in response
    for match in re.finditer(r'<input type="(?:email|password|text)" name="[^"]+"[^>]* id="([^"]+)"', html):
        assert f'for="{match.group(1)}"' in html


def test_signup_logs_in_when_verification_optional(client, settings, published):
    settings.ACCOUNTS_REQUIRE_EMAIL_VERIFICATION = False
    response = csrf_post(
        client,
        reverse("accounts:signup"),
        {"email": "Eve@Example.org", "name": "Eve", "password1": "a-long-unusual-pass-77", "password2": "a-long-unusual-pass-77"},
    )
    assert response.status_code == 302
    assert client.get(reverse("accounts:profile")).status_code == 200
    assert get_user_model().objects.filter(email="eve@example.org", email_verified=False).exists()
    assert published.names()[:2] == ["accounts.user.registered", "accounts.user.logged_in"]
    assert len(mail.outbox) == 1


def test_signup_then_verification_required_before_login(client, settings, published):
    settings.ACCOUNTS_REQUIRE_EMAIL_VERIFICATION = True
    response = csrf_post(
        client,
        reverse("accounts:signup"),
        {"email": "bob@example.org", "password1": "a-long-unusual-pass-77", "password2": "a-long-unusual-pass-77"},
    )
    assert response.status_code == 200 and b"Check your e-mail" in response.content
    login = csrf_post(client, reverse("accounts:login"), {"username": "bob@example.org", "password": "a-long-unusual-pass-77"})
    assert login.status_code == 200 and b"Confirm your e-mail address first" in login.content
    assert len(mail.outbox) == 2  # sign-up link and a fresh one
    link = link_from_mail(mail.outbox[0])
    assert client.get(link).status_code == 302
    assert get_user_model().objects.get(email="bob@example.org").email_verified
    assert published.named("accounts.email.verified")
    # The link is single use.
    assert client.get(link).status_code == 400
    login = csrf_post(client, reverse("accounts:login"), {"username": "BOB@example.org", "password": "a-long-unusual-pass-77"})
    assert login.status_code == 302


def test_signup_errors_are_linked_to_their_fields(client, user):
    response = csrf_post(
        client, reverse("accounts:signup"), {"email": "ada@example.org", "password1": "short", "password2": "short"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'aria-invalid="true"' in html
    assert re.search(r'aria-describedby="[^"]*id_email_error', html) and 'id="id_email_error"' in html
    assert get_user_model().objects.count() == 1


def test_login_same_message_for_unknown_email_and_wrong_password(client, user, published):
    wrong = csrf_post(client, reverse("accounts:login"), {"username": "ada@example.org", "password": "nope-nope-1"})
    unknown = csrf_post(client, reverse("accounts:login"), {"username": "zed@example.org", "password": "nope-nope-1"})
    error = re.compile(r'<div class="errorlist nonfield".*?</div>', re.S)
    assert wrong.status_code == unknown.status_code == 200
    assert error.search(wrong.content.decode()).group(0) == error.search(unknown.content.decode()).group(0)
    assert [e.channel for e in published.named("accounts.login.failed")] == ["web", "web"]


def test_login_requires_csrf(client, user):
    response = client.post(reverse("accounts:login"), {"username": "ada@example.org", "password": PASSWORD})
    assert response.status_code == 403


def test_login_and_logout_post_only(client, user, published):
    response = csrf_post(client, reverse("accounts:login"), {"username": "ada@example.org", "password": PASSWORD})
    assert response.status_code == 302
    assert published.named("accounts.user.logged_in")[0].channel == "web"
    assert client.get(reverse("accounts:logout")).status_code == 405
    profile = client.get(reverse("accounts:profile")).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', profile).group(1)
    assert client.post(reverse("accounts:logout"), {"csrfmiddlewaretoken": token}).status_code == 302
    assert published.named("accounts.user.logged_out")
    assert client.get(reverse("accounts:profile")).status_code == 302  # to the login page


def test_login_throttled_with_retry_after(client, user, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth_account": "2/min"},
    }
    for _ in range(2):
        csrf_post(client, reverse("accounts:login"), {"username": "ada@example.org", "password": "nope-nope-1"})
    blocked = csrf_post(client, reverse("accounts:login"), {"username": "ada@example.org", "password": PASSWORD})
    assert blocked.status_code == 429 and int(blocked["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session


def test_password_reset_single_use_link(client, user, published):
    response = csrf_post(client, reverse("accounts:password_reset"), {"email": "ADA@example.org"})
    assert response.status_code == 302
    done = client.get(response["Location"])
    assert b"If an account exists" in done.content
    unknown = csrf_post(client, reverse("accounts:password_reset"), {"email": "nobody@example.org"})
    assert unknown["Location"] == response["Location"]
    assert len(mail.outbox) == 1
    assert PASSWORD not in mail.outbox[0].body
    link = link_from_mail(mail.outbox[0])
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200 and b'name="new_password1"' in form_page.content
    set_url = form_page.redirect_chain[-1][0]
    assert "set-password" in set_url  # the token left the URL
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form_page.content.decode()).group(1)
    new = "brand-new-long-pass-31"
    saved = client.post(set_url, {"new_password1": new, "new_password2": new, "csrfmiddlewaretoken": token})
    assert saved.status_code == 302
    user.refresh_from_db()
    assert user.check_password(new)
    assert published.named("accounts.password_reset.completed")[0].subject_id == str(user.id)
    # Second use of the same link: refused.
    again = client.get(link, follow=True)
    assert b'name="new_password1"' not in again.content and b"not valid" in again.content


def test_password_change(client, user, published):
    client.force_login(user)
    response = csrf_post(
        client,
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": "fresh-long-pass-55", "new_password2": "fresh-long-pass-55"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("fresh-long-pass-55")
    assert published.named("accounts.password.changed")
    assert client.get(reverse("accounts:profile")).status_code == 200  # still signed in


def test_profile_edit(client, user):
    client.force_login(user)
    response = csrf_post(
        client, reverse("accounts:profile"), {"name": "Ada King", "organisation": "Analytical", "preferred_language": "cs"}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.name, user.organisation, user.preferred_language) == ("Ada King", "Analytical", "cs")
    bad = csrf_post(client, reverse("accounts:profile"), {"name": "X", "preferred_language": "xx"})
    assert bad.status_code == 200
    user.refresh_from_db()
    assert user.name == "Ada King"


def test_delete_account_needs_the_password(client, user, make_user, published):
    other = make_user()
    client.force_login(user)
    wrong = csrf_post(client, reverse("accounts:delete"), {"password": "nope-nope-1", "confirm": "on"})
    assert wrong.status_code == 200 and get_user_model().objects.filter(pk=user.pk).exists()
    assert not published.named("accounts.user.deleted")
    response = csrf_post(client, reverse("accounts:delete"), {"password": PASSWORD, "confirm": "on"})
    assert response.status_code == 302
    assert not get_user_model().objects.filter(pk=user.pk).exists()
    assert get_user_model().objects.filter(pk=other.pk).exists()
    deleted = published.named("accounts.user.deleted")
    assert len(deleted) == 1 and deleted[0].subject_id == str(user.id)
    assert not published.named("accounts.user.logged_out")
    assert client.get(reverse("accounts:profile")).status_code == 302


def test_pages_need_login(client):
    for name in ("profile", "delete", "password_change"):
        response = client.get(reverse(f"accounts:{name}"))
        assert response.status_code == 302 and reverse("accounts:login") in response["Location"]
