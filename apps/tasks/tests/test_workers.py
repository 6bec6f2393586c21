"""Real ``manage.py rundramatiq`` workers on the real Redis and RabbitMQ of this machine.

These need a database that a second process can open: PostgreSQL (``DATABASE_URL``) or a
SQLite *file*; with the default in-memory SQLite test database they are skipped.

What is real: the worker processes, the broker, the database, SIGKILL. What is simulated:
a broker restart is simulated by purging the broker's queue (Redis here runs without
persistence, so a restart empties it exactly so; a RabbitMQ restart with transient queues
does the same), and a broker outage at submit time by sending to an unreachable address.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import dramatiq
import pytest
from django.db import connection, transaction

from apps.tasks import api, testing
from apps.tasks.contracts import Priority
from apps.tasks.models import Job, WorkerHeartbeat
from config.dramatiq import build_broker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[3]
LEASE_SECONDS = 2


def database_url() -> str:
    cfg = connection.settings_dict
    if connection.vendor == "postgresql":
        user = quote(cfg.get("USER") or "")
        password = quote(cfg.get("PASSWORD") or "")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        return f"postgres://{auth}{cfg.get('HOST') or '127.0.0.1'}:{cfg.get('PORT') or 5432}/{cfg['NAME']}"
    name = str(cfg["NAME"])
    if connection.vendor == "sqlite" and name not in ("", ":memory:") and "mode=memory" not in name:
        return f"sqlite:///{name}"
    pytest.skip("real worker processes need PostgreSQL or a SQLite file database (the test DB is in memory)")


@pytest.fixture(params=[pytest.param("redis", marks=pytest.mark.redis),
                        pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker_url(request):
    database_url()  # skip early on an in-memory database
    return request.getfixturevalue("redis_url" if request.param == "redis" else "rabbitmq_url")


@pytest.fixture
def real_broker(broker_url, settings):
    """This test process sends to the real broker (the global broker is swapped for the test)."""
    from apps.tasks import actors

    previous = dramatiq.get_broker()
    broker = build_broker(broker_url)
    broker.declare_actor(actors.run_job)
    broker.declare_queue(testing.QUEUE)
    broker.flush(testing.QUEUE)  # only the test queue: other processes may share this broker
    dramatiq.set_broker(broker)
    settings.JOB_LEASE_SECONDS = LEASE_SECONDS
    yield broker
    try:
        broker.flush(testing.QUEUE)
    finally:
        broker.close()
        dramatiq.set_broker(previous)


class Workers:
    def __init__(self, broker_url: str, tmp_path: Path):
        self.broker_url = broker_url
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen] = []

    def start(self, threads: int = 1) -> subprocess.Popen:
        env = dict(
            os.environ,
            DJANGO_ENV="test",
            DATABASE_URL=database_url(),
            BROKER_URL=self.broker_url,
            REDIS_URL="",
            EMBEDDED_WORKERS="false",
            SPHEROSEG_TEST_HANDLERS="1",
            JOB_LEASE_SECONDS=str(LEASE_SECONDS),
            JOB_RETRY_BASE_SECONDS="0.2",
            LOG_LEVEL="WARNING",
        )
        log = open(self.tmp_path / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", str(threads),
             "--queues", testing.QUEUE],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def stop_all(self) -> None:
        # The test is over: no need for dramatiq's few seconds of graceful shutdown.
        for proc in self.procs:
            if proc.poll() is None:
                self.kill(proc, signal.SIGKILL)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.tmp_path.glob("worker-*.log")))


@pytest.fixture
def workers(broker_url, tmp_path):
    w = Workers(broker_url, tmp_path)
    yield w
    w.stop_all()


def wait_for(predicate, workers: Workers, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; worker logs:\n{workers.logs()}")


def lines(path: Path, prefix: str) -> list[list[str]]:
    if not path.exists():
        return []
    return [line.split() for line in path.read_text().splitlines() if line.startswith(prefix)]


def test_sigkilled_worker_loses_nothing_and_the_job_succeeds_exactly_once(real_broker, workers, tmp_path):
    record = tmp_path / "record.txt"
    procs = [workers.start(), workers.start()]  # two single-thread workers
    job, _ = api.submit_job(kind=testing.KIND, owner_id=None,
                            params={"steps": 40, "step_seconds": 0.1, "record": str(record)})
    wait_for(lambda: Job.objects.filter(id=job.id, status="running", progress__gt=0).exists(),
             workers, what="the job to run")
    holder_pid = int(Job.objects.get(id=job.id).worker_id.split(":")[1])
    victim = next(p for p in procs if os.getpgid(holder_pid) == p.pid)
    workers.kill(victim, signal.SIGKILL)  # mid-job, no chance to clean up
    assert Job.objects.get(id=job.id).status == "running"  # still leased to the dead worker

    wait_for(lambda: Job.objects.filter(id=job.id, status="succeeded").exists(), workers, timeout=90,
             what="the job to finish on the surviving worker")
    row = Job.objects.get(id=job.id)
    starts = lines(record, "start")
    results = lines(record, "result")
    assert [s[2] for s in starts] == ["1", "2"] and starts[0][3] == str(holder_pid) != starts[1][3]
    assert results == [["result", str(job.id), "2"]]  # exactly one result, from the 2nd attempt
    assert row.attempts == 2 and row.result_ref == "attempt-2" and row.error == ""
    assert WorkerHeartbeat.objects.exists()


def test_high_priority_overtakes_100_queued_jobs(real_broker, workers, tmp_path):
    record = tmp_path / "order.log"  # the handler appends "start <job> <attempt> <pid>" as it starts
    params = {"record": str(record)}
    with transaction.atomic():  # all messages leave at commit, normals first
        normals = [api.submit_job(kind=testing.KIND, owner_id=None, params=params)[0] for _ in range(100)]
        high, _ = api.submit_job(kind=testing.KIND, owner_id=None, params=params, priority=Priority.HIGH)
    assert api.get_job(job_id=high.id).queue_position == 1
    workers.start(threads=1)
    normal_ids = [str(j.id) for j in normals]
    wait_for(lambda: Job.objects.filter(id__in=normal_ids[:5], status="succeeded").count() == 5, workers,
             what="the first normal jobs")
    # The order the one worker thread ran them in, from the handler itself (not from the
    # started_at stamps, which follow the wall clock); the pids show any second consumer.
    starts = [line.split() for line in record.read_text().splitlines() if line.startswith("start ")]
    order = [job_id for _, job_id, _, _ in starts]
    assert order[0] == str(high.id), starts[:6]
    # The normal jobs then run in submission order.
    assert order[1:6] == normal_ids[:5], starts[:6]
    assert Job.objects.get(id=high.id).status == "succeeded"


def test_broker_restart_between_submit_and_consume_loses_no_job(real_broker, workers, tmp_path, monkeypatch):
    # 1. Submitted while the broker is unreachable: the job is stored, its message never sent.
    unreachable = build_broker("redis://127.0.0.1:1/0")
    monkeypatch.setattr(dramatiq, "get_broker", lambda: unreachable)
    during_outage, _ = api.submit_job(kind=testing.KIND, owner_id=None, params={})
    monkeypatch.undo()
    assert Job.objects.get(id=during_outage.id).dispatched_at is None
    # 2. Submitted and sent, then the broker "restarts" and forgets its queue.
    sent, _ = api.submit_job(kind=testing.KIND, owner_id=None, params={})
    assert Job.objects.get(id=sent.id).dispatched_at is not None
    real_broker.flush(testing.QUEUE)

    workers.start()
    wait_for(lambda: Job.objects.filter(id__in=[during_outage.id, sent.id], status="succeeded").count() == 2,
             workers, what="both jobs to be re-sent by the reconciler and run")
    for job_id in (during_outage.id, sent.id):
        assert Job.objects.get(id=job_id).attempts == 1
