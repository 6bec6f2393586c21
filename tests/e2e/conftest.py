"""Browser and live-server fixtures for end-to-end tests (shared by every context).

Fixtures
--------
``page``         a Playwright (sync API) page in a fresh context of Debian's headless Chromium
                 (``/usr/bin/chromium``); the test is skipped, with the reason, when Chromium or
                 Playwright is missing. Mark such tests ``@pytest.mark.browser``.
``screenshot``   ``screenshot("step-name")`` saves ``artifacts/screenshots/<test>-<step>.png``
                 (the folder is git-ignored) and returns the path.
``live_server``  pytest-django's WSGI server in a thread of the test process (same database,
                 same ``django.core.mail.outbox``): enough for plain pages.
``asgi_server``  the real product (``daphne config.asgi:application``, HTTP *and* websockets)
                 in a subprocess on a free port, on the test database, with its workers: embedded
                 with the stub broker, a ``manage.py rundramatiq`` process with a real broker.
                 Yields its base URL (``http://127.0.0.1:PORT``); ``asgi_server.ws_url`` is the
                 ``ws://`` form. It uses ``transactional_db`` (data must be committed to be
                 seen by the other process) and, on SQLite, switches the test database from
                 memory to a file for the session that collects a test using it. Mail sent by
                 that process does not reach ``mail.outbox`` (use ``live_server`` for that).

Playwright's sync API drives an asyncio loop in the test's thread, so Django's async-safety
check is relaxed (``DJANGO_ALLOW_ASYNC_UNSAFE``) for the duration of a ``page`` only. Do not
mix the sync API with ``async def`` tests.

Example::

    @pytest.mark.browser
    def test_live_progress(page, asgi_server, make_user, screenshot):
        user = make_user()
        page.goto(f"{asgi_server}/accounts/login/")
        ...
        screenshot("logged-in")
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
SERVER_START_TIMEOUT = float(os.environ.get("E2E_SERVER_START_TIMEOUT", "90"))


# --- database: a file for SQLite when another process must see it ----------------------------


def pytest_collection_modifyitems(config, items):
    if any("asgi_server" in getattr(item, "fixturenames", ()) for item in items):
        _sqlite_test_database_on_disk()


def _sqlite_test_database_on_disk() -> None:
    from django.conf import settings
    from django.db import connections

    if "sqlite" not in settings.DATABASES["default"]["ENGINE"]:
        return
    name = str(Path(tempfile.gettempdir()) / f"spheroseg-test-{os.getpid()}.sqlite3")
    for db in (settings.DATABASES["default"], connections.settings["default"]):
        db.setdefault("TEST", {})["NAME"] = name


def _database_url(db: dict) -> str:
    engine = db["ENGINE"]
    if "sqlite" in engine:
        name = str(db["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            pytest.fail("asgi_server needs a file database; the SQLite test database is in memory")
        return f"sqlite:///{name}"
    if "postgresql" in engine:
        auth = quote(db.get("USER") or "")
        if db.get("PASSWORD"):
            auth += ":" + quote(db["PASSWORD"])
        host = db.get("HOST") or "127.0.0.1"
        port = db.get("PORT") or 5432
        return f"postgres://{auth}@{host}:{port}/{db['NAME']}"
    pytest.fail(f"asgi_server does not know how to share a {engine} database")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"daphne exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    process.kill()
    pytest.fail(f"daphne did not listen on {port} within {SERVER_START_TIMEOUT:.0f} s:\n{log.read_text()[-4000:]}")


class ServerURL(str):
    """The base URL (a ``str``), with ``ws_url`` and ``port``."""

    port: int
    ws_url: str


@pytest.fixture
def asgi_server(transactional_db, tmp_path):
    from django.db import connection

    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(connection.settings_dict),
        "DJANGO_ENV": os.environ.get("DJANGO_ENV", "test"),
        "PYTHONUNBUFFERED": "1",
        # A cache of its own (throttle counts above all): with Redis, servers of earlier tests
        # share the cache, and their sign-ins would count against this test's.
        "CACHE_KEY_PREFIX": f"e2e-{uuid.uuid4().hex}",
    }
    from django.conf import settings

    if settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage"):
        # Files the test stores through the api (per-test media folder) must be seen by the server.
        env["MEDIA_ROOT"] = str(settings.STORAGES["default"]["OPTIONS"]["location"])
    log = tmp_path / "daphne.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    worker = None
    if not settings.BROKER_URL.startswith("stub"):
        # Distributed mode: the server runs no workers; a real worker process takes the jobs,
        # as in production (`manage.py rundramatiq`, same database, broker and storage).
        worker_log = (tmp_path / "worker.log").open("wb")
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", "2"],
            cwd=ROOT, env=env, stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        worker_log.close()
    try:
        _wait_for_port(port, process, log)
        url = ServerURL(f"http://127.0.0.1:{port}")
        url.port = port
        url.ws_url = f"ws://127.0.0.1:{port}"
        yield url
    finally:
        for proc in (process, worker):
            if proc is None:
                continue
            if proc is worker:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
            else:
                proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                if proc is worker:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                else:
                    proc.kill()
                proc.wait()


# --- browser ----------------------------------------------------------------------------------


def _playwright():
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright Python package is not installed")
    return sync_playwright


@pytest.fixture
def browser(monkeypatch):
    sync_playwright = _playwright()
    # Playwright's sync API runs an event loop in this thread; Django's ORM would refuse to run.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
            # While Playwright's loop runs in this thread, asgiref gives Django's ORM a context
            # storage apart from the thread's own: the connections the test opened there are
            # closed now, or they outlive the test and the test database cannot be dropped.
            from django.db import connections

            connections.close_all()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def screenshot(request, page):
    """``screenshot(name)`` -> path of ``artifacts/screenshots/<test>-<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)

    def take(name: str, *, full_page: bool = True) -> Path:
        path = SCREENSHOTS / f"{test}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take
