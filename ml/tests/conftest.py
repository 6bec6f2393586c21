from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "demo" / "spheroids"


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return DEMO


# The repository's root conftest.py has Django autouse fixtures (they need pytest-django's
# ``settings``). ml is Django-free: override them with no-ops here so that
# ``pytest ml/tests -p no:django`` runs without Django.
@pytest.fixture(autouse=True)
def _isolated_media():
    yield


@pytest.fixture(autouse=True)
def _fresh_auth_throttles():
    yield
