from __future__ import annotations

import pytest

from apps.common import events as bus

PASSWORD = "correct-horse-battery-9"


class Recorder:
    def __init__(self):
        self.events = []

    def __call__(self, event):
        self.events.append(event)

    def named(self, name):
        return [e for e in self.events if e.name == name]

    def names(self):
        return [e.name for e in self.events]


@pytest.fixture
def published():
    """Every event published during the test (in-transaction phase: rollbacks included)."""
    recorder = Recorder()
    bus.subscribe(bus.ALL, recorder, phase="in_transaction")
    yield recorder
    bus.unsubscribe(bus.ALL, recorder, phase="in_transaction")


@pytest.fixture
def user(make_user):
    return make_user(email="ada@example.org", password=PASSWORD, name="Ada")


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    """Argon2 costs ~0.3 s a hash: tests use a fast one, except those asking for ``argon2``."""
    production = list(settings.PASSWORD_HASHERS)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return production


@pytest.fixture
def argon2(settings, _fast_hasher):
    settings.PASSWORD_HASHERS = _fast_hasher
