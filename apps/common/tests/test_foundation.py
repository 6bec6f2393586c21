"""Request ids, health, metrics, production settings and job wiring."""

import logging
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import dramatiq
import pytest
from django.db import transaction

from apps.common import context, jobs

ROOT = Path(__file__).resolve().parents[3]


def test_request_id_is_generated_and_echoed(client):
    response = client.get("/health/live")
    assert response.status_code == 200
    assert len(response["X-Request-ID"]) == 32


def test_incoming_request_id_is_kept_and_bad_ones_replaced(client):
    assert client.get("/health/live", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    assert client.get("/health/live", HTTP_X_REQUEST_ID="bad id\n")["X-Request-ID"] != "bad id\n"


def test_security_headers(client):
    response = client.get("/health/live")
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_ready_and_detail_health(client):
    ready = client.get("/health/ready")
    assert ready.status_code == 200, ready.content
    detail = client.get("/health/").json()
    assert detail["status"] == "ok"
    for name in ("database", "cache", "broker", "storage"):
        assert detail["checks"][name]["status"] == "ok"
        assert detail["checks"][name]["latency_ms"] >= 0


@pytest.mark.django_db
def test_ready_is_503_when_the_database_is_down(client, monkeypatch):
    from health_check.checks import Database
    from health_check.exceptions import ServiceUnavailable

    def down(self):
        raise ServiceUnavailable("database down")

    monkeypatch.setattr(Database, "run", down)
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert "database" in response.json()["failed"]


@pytest.mark.django_db
def test_metrics_serve_prometheus_text(client):
    client.get("/health/live")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"django_http_requests_total_by_method_total" in response.content


@pytest.mark.django_db
def test_metrics_are_closed_in_production_mode(client, settings, make_user):
    settings.METRICS_PUBLIC = False
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200
    client.force_login(make_user(is_staff=True))
    assert client.get("/metrics").status_code == 200


def _run_check(extra_env):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_ENV"}}
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def test_production_refuses_to_start_without_secret_key():
    result = _run_check({"DJANGO_ENV": "production", "ALLOWED_HOSTS": "example.org"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts():
    result = _run_check({"DJANGO_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(60)})
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def test_production_settings_pass_check_deploy():
    result = _run_check({"DJANGO_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(60), "ALLOWED_HOSTS": "example.org"})
    assert result.returncode == 0, result.stdout + result.stderr


@dramatiq.actor(actor_name="common_test_echo", queue_name="common-test")
def _echo(value):
    _echo.seen.append((value, context.current().request_id))


_echo.seen = []


def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.django_db(transaction=True)
def test_enqueue_on_commit_sends_after_commit_and_carries_request_id():
    """Runs on whatever broker is configured (stub in embedded mode, Redis/RabbitMQ in distributed)."""
    _echo.seen.clear()
    broker = dramatiq.get_broker()
    worker = dramatiq.Worker(broker, queues={"common-test"}, worker_timeout=50, worker_threads=1)
    worker.start()
    try:
        with context.bind(context.RequestContext(request_id="trace-me")):
            with transaction.atomic():
                jobs.enqueue_on_commit("common_test_echo", 7)
                time.sleep(0.3)
                assert _echo.seen == []  # nothing is sent before commit
            assert _wait_for(lambda: _echo.seen == [(7, "trace-me")])
        with pytest.raises(RuntimeError), transaction.atomic():
            jobs.enqueue_on_commit("common_test_echo", 8)
            raise RuntimeError("rolled back")
        jobs.enqueue_on_commit("common_test_echo", 9)  # a later message proves the queue still flows
        assert _wait_for(lambda: len(_echo.seen) == 2)
    finally:
        worker.stop()
    assert [value for value, _ in _echo.seen] == [7, 9]


def test_log_lines_carry_the_request_id(caplog):
    from apps.common.logging import RequestIdFilter

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    with context.bind(context.RequestContext(request_id="log-id")):
        RequestIdFilter().filter(record)
    assert record.request_id == "log-id"
