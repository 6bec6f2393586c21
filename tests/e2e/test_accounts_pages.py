"""Sign-up, log-in and password reset in a real (headless Chromium) browser."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery-9"


def submit(page, label):
    page.get_by_role("button", name=label).click()
    page.wait_for_load_state("load")


def test_sign_up(page, live_server, screenshot, settings):
    settings.ACCOUNTS_REQUIRE_EMAIL_VERIFICATION = False
    page.goto(f"{live_server.url}/accounts/signup/")
    screenshot("form")
    page.get_by_label("E-mail address").fill("Browser.User@Example.org")
    page.get_by_label("Name").fill("Browser User")
    page.get_by_label("Password", exact=True).fill("a-long-unusual-pass-77")
    page.get_by_label("Password (again)").fill("a-long-unusual-pass-77")
    submit(page, "Sign up")
    assert get_user_model().objects.filter(email="browser.user@example.org").exists()
    page.goto(f"{live_server.url}/accounts/profile/")
    assert page.get_by_text("browser.user@example.org").is_visible()
    assert page.get_by_role("button", name="Log out").is_visible()
    screenshot("profile")
    assert len(mail.outbox) == 1 and "/accounts/verify/" in mail.outbox[0].body
    assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_sign_up_shows_field_errors(page, live_server, screenshot):
    page.goto(f"{live_server.url}/accounts/signup/")
    page.get_by_label("E-mail address").fill("weak@example.org")
    page.get_by_label("Password", exact=True).fill("123")
    page.get_by_label("Password (again)").fill("123")
    submit(page, "Sign up")
    password = page.get_by_label("Password", exact=True)
    assert password.get_attribute("aria-invalid") == "true"
    error_id = password.get_attribute("aria-describedby").split()[-1]
    assert page.locator(f"#{error_id}").inner_text().strip()
    screenshot("errors")
    assert not get_user_model().objects.filter(email="weak@example.org").exists()


def test_log_in_and_out(page, live_server, make_user, screenshot):
    make_user(email="ada@example.org", password=PASSWORD, name="Ada")
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("E-mail address").fill("ada@example.org")
    page.get_by_label("Password").fill("wrong-password-1")
    submit(page, "Log in")
    error = page.get_by_role("alert").inner_text()
    assert "correct e-mail address and password" in error
    screenshot("wrong-password")
    page.get_by_label("E-mail address").fill("nobody@example.org")
    page.get_by_label("Password").fill("wrong-password-1")
    submit(page, "Log in")
    assert page.get_by_role("alert").inner_text() == error  # no enumeration
    page.get_by_label("E-mail address").fill("ADA@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    submit(page, "Log in")
    page.goto(f"{live_server.url}/accounts/profile/")
    assert page.get_by_role("heading", name="Your profile").is_visible()
    screenshot("logged-in")
    submit(page, "Log out")
    assert re.search(r"/accounts/login/", page.url)
    page.goto(f"{live_server.url}/accounts/profile/")
    assert "/accounts/login/" in page.url


def test_password_reset(page, live_server, make_user, screenshot):
    user = make_user(email="grace@example.org", password=PASSWORD)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Forgotten your password?").click()
    page.get_by_label("E-mail address").fill("grace@example.org")
    screenshot("request")
    submit(page, "Send the link")
    assert "If an account exists" in page.get_by_role("status").inner_text()
    screenshot("sent")
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    page.goto(f"{live_server.url}{link}")
    assert "set-password" in page.url  # the token left the address bar
    page.get_by_label("New password", exact=True).fill("brand-new-long-pass-31")
    page.get_by_label("New password confirmation").fill("brand-new-long-pass-31")
    screenshot("new-password")
    submit(page, "Set password")
    assert page.get_by_role("heading", name="Your new password is set").is_visible()
    user.refresh_from_db()
    assert user.check_password("brand-new-long-pass-31")
    # The link works once.
    page.goto(f"{live_server.url}{link}")
    assert page.locator("#invalid-link").is_visible()
    screenshot("link-used")
    # And the new password logs in.
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("E-mail address").fill("grace@example.org")
    page.get_by_label("Password").fill("brand-new-long-pass-31")
    submit(page, "Log in")
    page.goto(f"{live_server.url}/accounts/profile/")
    assert page.get_by_text("grace@example.org").is_visible()


def test_asgi_server_serves_the_product_on_the_test_database(page, asgi_server, make_user, screenshot):
    """The daphne fixture sees data the test committed (a login) and serves static files."""
    make_user(email="asgi@example.org", password=PASSWORD)
    page.goto(f"{asgi_server}/accounts/login/")
    page.get_by_label("E-mail address").fill("asgi@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    submit(page, "Log in")
    page.goto(f"{asgi_server}/accounts/profile/")
    assert page.get_by_text("asgi@example.org").is_visible()
    screenshot("profile-over-asgi")
