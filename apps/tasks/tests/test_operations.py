"""Operator doors: manage.py jobs, /health/ sections, /metrics, admin actions."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apps.tasks import api, services, supervisor, testing
from apps.tasks.models import Job

pytestmark = pytest.mark.django_db


def submit(**kw):
    kw.setdefault("params", {})
    return api.submit_job(kind=testing.KIND, owner_id=None, **kw)[0]


def run(*args) -> str:
    out = StringIO()
    call_command("jobs", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_jobs_list_requeue_purge(flushed_broker):
    dead = submit(params={"fail_attempts": 9}, max_attempts=1)
    services.execute_next(testing.QUEUE)
    queued = submit()
    out = run("list", "--status", "dead")
    assert str(dead.id) in out and str(queued.id) not in out and "transient failure" in out

    assert "requeued 1 job(s)" in run("requeue", "--dead")
    assert Job.objects.get(id=dead.id).status == "queued"
    before = flushed_broker.queues[testing.QUEUE].qsize()
    assert "requeued 1 job(s)" in run("requeue", str(queued.id))
    assert flushed_broker.queues[testing.QUEUE].qsize() == before + 1
    with pytest.raises(CommandError):
        run("requeue")

    services.execute_next(testing.QUEUE)
    services.execute_next(testing.QUEUE)
    Job.objects.update(finished_at=timezone.now() - dt.timedelta(days=40))
    assert "would delete 2 job(s)" in run("purge", "--older-than", "30", "--dry-run")
    assert Job.objects.count() == 2
    assert "deleted 2 job(s)" in run("purge", "--older-than", "30")
    assert Job.objects.count() == 0


def test_requeue_stuck(flushed_broker):
    job = submit()
    services.claim_next(testing.QUEUE)
    Job.objects.filter(id=job.id).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert "requeued 1 job(s)" in run("requeue", "--stuck")
    assert Job.objects.get(id=job.id).status == "queued"


@pytest.mark.django_db(transaction=True)  # /health/ reads from worker threads
def test_health_reports_workers_and_queues(client, flushed_broker):
    submit(priority=9)
    submit()
    supervisor.run_once()
    body = client.get("/health/").json()
    assert body["workers"]["alive"] >= 1
    assert body["workers"]["workers"][0]["worker_id"] == services.worker_id()
    assert body["queues"]["queued"] == 2
    assert {(q["queue"], q["priority"], q["queued"]) for q in body["queues"]["by_queue"]} == {
        (testing.QUEUE, 9, 1), (testing.QUEUE, 5, 1)
    }
    assert body["queues"]["broker_ready_messages"][testing.QUEUE] == 2


def test_metrics_expose_job_gauges_and_histograms(client):
    submit()
    done = submit(priority=9)
    services.execute_next(testing.QUEUE)
    text = client.get("/metrics").content.decode()
    assert f'spheroseg_jobs{{kind="{testing.KIND}",status="queued"}} 1.0' in text
    assert f'spheroseg_jobs{{kind="{testing.KIND}",status="succeeded"}} 1.0' in text
    assert f'spheroseg_job_queue_depth{{priority="5",queue="{testing.QUEUE}"}} 1.0' in text
    assert 'spheroseg_job_run_seconds_count 1.0' in text
    assert 'spheroseg_job_wait_seconds_bucket{le="+Inf"} 1.0' in text
    assert done.id


def test_admin_cancel_and_replay_actions(client, make_user):
    admin_user = make_user(is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    queued = submit()
    dead = submit(params={"fail_attempts": 9}, max_attempts=1, priority=9)
    services.execute_next(testing.QUEUE)
    assert Job.objects.get(id=dead.id).status == "dead"
    url = "/admin/tasks/job/"
    assert client.get(url).status_code == 200
    assert client.get(f"{url}{dead.id}/change/").status_code == 200
    client.post(url, {"action": "cancel_jobs", "_selected_action": [str(queued.id)]})
    assert Job.objects.get(id=queued.id).status == "cancelled"
    client.post(url, {"action": "replay_jobs", "_selected_action": [str(dead.id), str(queued.id)]})
    assert Job.objects.get(id=dead.id).status == "queued"
    assert Job.objects.get(id=queued.id).status == "cancelled"  # refused, reported as a warning
