"""Job lifecycle in-process: transitions, claiming, priority, retries, cancel, leases, outbox."""

from __future__ import annotations

import datetime as dt
import uuid

import dramatiq
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from dramatiq.middleware import TimeLimitExceeded

from apps.common import events
from apps.tasks import api, selectors, services, testing
from apps.tasks.contracts import (
    TRANSITIONS,
    JobCancelled,
    JobStateError,
    JobStatus,
    PermanentJobError,
    Priority,
    Stage,
    allowed_sources,
)
from apps.tasks.models import Job

pytestmark = pytest.mark.django_db


def submit(**kw):
    kw.setdefault("kind", testing.KIND)
    kw.setdefault("owner_id", None)
    kw.setdefault("params", {})
    return api.submit_job(**kw)[0]


def status(job_id):
    return Job.objects.get(id=job_id).status


@pytest.fixture
def captured_events():
    seen = []

    def grab(event):
        seen.append(event)

    events.subscribe(events.ALL, grab, phase="in_transaction")
    yield seen
    events.unsubscribe(events.ALL, grab, phase="in_transaction")


def test_transition_table_never_leaves_terminal_states():
    assert TRANSITIONS[JobStatus.SUCCEEDED] == frozenset()
    assert TRANSITIONS[JobStatus.CANCELLED] == frozenset()
    assert JobStatus.SUCCEEDED not in TRANSITIONS[JobStatus.QUEUED]
    assert allowed_sources(JobStatus.SUCCEEDED) == {JobStatus.RUNNING}


def test_cancelled_job_never_becomes_succeeded_and_stale_token_changes_nothing():
    job = submit()
    claimed, token = services.claim_next(testing.QUEUE)
    assert claimed.id == job.id and claimed.status == "running" and claimed.attempts == 1
    api.cancel_job(job_id=job.id, actor_id=None)
    assert services.transition(job.id, JobStatus.SUCCEEDED, token=token) is None
    assert status(job.id) == "cancelled"
    # A writer with a wrong token cannot move a running job either.
    other = submit()
    services.claim_next(testing.QUEUE)
    assert services.transition(other.id, JobStatus.FAILED, token=uuid.uuid4()) is None
    assert status(other.id) == "running"


def test_submit_unknown_kind_or_bad_priority_is_refused_and_leaves_nothing():
    with pytest.raises(ValueError):
        api.submit_job(kind="no.such.kind", owner_id=None, params={})
    with pytest.raises(ValueError):
        api.submit_job(kind=testing.KIND, owner_id=None, params={}, priority=42)
    assert Job.objects.count() == 0


def test_dedupe_returns_the_active_job_and_a_new_one_once_finished():
    first, created = api.submit_job(kind=testing.KIND, owner_id=None, params={}, dedupe_key="img:1:model")
    again, created_again = api.submit_job(kind=testing.KIND, owner_id=None, params={}, dedupe_key="img:1:model")
    assert created and not created_again and again.id == first.id
    assert services.execute_next(testing.QUEUE) == first.id
    assert status(first.id) == "succeeded"
    third, created_third = api.submit_job(kind=testing.KIND, owner_id=None, params={}, dedupe_key="img:1:model")
    assert created_third and third.id != first.id


def test_dedupe_is_enforced_by_the_database():
    from django.db import IntegrityError, transaction

    submit(dedupe_key="k")
    with pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.create(kind=testing.KIND, dedupe_key="k")


def test_priority_overtakes_and_queue_positions_follow_claim_order():
    normals = [submit() for _ in range(5)]
    high = submit(priority=Priority.HIGH)
    low = submit(priority=Priority.LOW)
    infos = api.get_jobs(ids=[j.id for j in [*normals, high, low]])
    assert infos[high.id].queue_position == 1
    assert [infos[j.id].queue_position for j in normals] == [2, 3, 4, 5, 6]
    assert infos[low.id].queue_position == 7
    order = [services.execute_next(testing.QUEUE) for _ in range(7)]
    assert order == [high.id, *[j.id for j in normals], low.id]
    assert services.execute_next(testing.QUEUE) is None


def test_a_claim_that_loses_the_race_is_stamped_after_the_winner(monkeypatch):
    # Two consumers: B starts claiming, A claims the high job while B is between reading the
    # queue and locking a row, then B takes the normal job. B's start must not precede A's.
    normal = submit()
    high = submit(priority=Priority.HIGH)
    clock = [timezone.now()]

    def tick():
        clock[0] += dt.timedelta(milliseconds=1)
        return clock[0]

    monkeypatch.setattr(timezone, "now", tick)
    real_eligible = selectors.eligible_queued
    raced = []

    def eligible_while_another_consumer_claims(*args, **kwargs):
        monkeypatch.setattr(selectors, "eligible_queued", real_eligible)  # A races in once
        raced.append(services.claim_next(testing.QUEUE)[0].id)
        return real_eligible(*args, **kwargs)

    monkeypatch.setattr(selectors, "eligible_queued", eligible_while_another_consumer_claims)
    claimed_by_b, _ = services.claim_next(testing.QUEUE)
    assert raced == [high.id] and claimed_by_b.id == normal.id
    started = dict(Job.objects.values_list("id", "started_at"))
    assert started[high.id] < started[normal.id]


def test_handler_progress_and_result(captured_events):
    job = submit(params={"steps": 3}, project_id=uuid.uuid4(), image_id=uuid.uuid4())
    services.execute_next(testing.QUEUE)
    info = api.get_job(job_id=job.id)
    assert info.status == JobStatus.SUCCEEDED and info.progress == 100 and info.stage == Stage.DONE
    assert info.result_ref == "attempt-1" and info.queue_position is None
    assert info.started_at and info.finished_at
    names = [e.name for e in captured_events]
    assert names == ["tasks.job.queued", "tasks.job.started", "tasks.job.succeeded"]
    assert all(e.subject_id == str(job.id) and e.project_id == str(job.project_id) for e in captured_events)
    assert captured_events[0].image_id == str(job.image_id) and captured_events[0].kind == testing.KIND


def test_permanent_error_fails_at_once(captured_events):
    job = submit(params={"permanent": True})
    services.execute_next(testing.QUEUE)
    info = api.get_job(job_id=job.id)
    assert info.status == JobStatus.FAILED and info.attempts == 1
    assert "corrupt" in info.error
    assert captured_events[-1].name == "tasks.job.failed"


def test_transient_errors_back_off_then_succeed(settings, tmp_path):
    settings.JOB_RETRY_BASE_SECONDS = 30
    record = tmp_path / "record.txt"
    job = submit(params={"fail_attempts": 1, "record": str(record)})
    services.execute_next(testing.QUEUE)
    row = Job.objects.get(id=job.id)
    assert row.status == "queued" and row.attempts == 1 and "transient failure" in row.error
    assert row.run_after > timezone.now() + dt.timedelta(seconds=20)  # backoff: 30 s +-20%
    assert services.execute_next(testing.QUEUE) is None  # not eligible before its backoff
    Job.objects.filter(id=job.id).update(run_after=timezone.now())
    services.execute_next(testing.QUEUE)
    row.refresh_from_db()
    assert row.status == "succeeded" and row.attempts == 2 and row.error == ""
    assert record.read_text().count("result ") == 1


def test_backoff_is_exponential(settings):
    settings.JOB_RETRY_BASE_SECONDS = 2
    settings.JOB_RETRY_MAX_SECONDS = 10
    assert 1.6 <= services.backoff_seconds(1) <= 2.4
    assert 6.4 <= services.backoff_seconds(3) <= 9.6
    assert services.backoff_seconds(10) <= 12


def test_last_attempt_goes_dead_then_replay(captured_events):
    job = submit(params={"fail_attempts": 99}, max_attempts=2)
    for _ in range(2):
        Job.objects.filter(id=job.id).update(run_after=None)
        services.execute_next(testing.QUEUE)
    info = api.get_job(job_id=job.id)
    assert info.status == JobStatus.DEAD and info.attempts == 2 and "transient failure" in info.error
    assert captured_events[-1].name == "tasks.job.dead"
    with pytest.raises(JobStateError):
        api.cancel_job(job_id=job.id, actor_id=None)
    actor = uuid.uuid4()
    replayed = api.replay_job(job_id=job.id, actor_id=actor)
    assert replayed.status == JobStatus.QUEUED and replayed.attempts == 0 and replayed.error == ""
    assert captured_events[-1].name == "tasks.job.replayed" and captured_events[-1].actor_id == str(actor)
    with pytest.raises(JobStateError):
        api.replay_job(job_id=job.id, actor_id=actor)


def test_time_limit_counts_as_a_transient_failure():
    def slow(handle):
        raise TimeLimitExceeded()

    api.register_handler("test.timeout", slow, queue=testing.QUEUE)
    job = submit(kind="test.timeout", max_attempts=1)
    services.execute_next(testing.QUEUE)
    info = api.get_job(job_id=job.id)
    assert info.status == JobStatus.DEAD and "time limit" in info.error


def test_cancel_queued_is_immediate(captured_events):
    job = submit()
    info = api.cancel_job(job_id=job.id, actor_id=None)
    assert info.status == JobStatus.CANCELLED and info.finished_at is not None
    assert services.execute_next(testing.QUEUE) is None
    assert api.cancel_job(job_id=job.id, actor_id=None).status == JobStatus.CANCELLED  # idempotent


def test_cancel_running_stops_at_next_stage_and_writes_no_result():
    written = []

    def handler(handle):
        handle.progress(Stage.LOADING, 10)
        api.cancel_job(job_id=handle.job.id, actor_id=None)  # a user cancels meanwhile
        try:
            handle.progress(Stage.INFERENCE, 50)
        except JobCancelled:
            written.append("stopped at stage boundary")
            raise
        return handle.commit_result(lambda: written.append("result") or "never")

    api.register_handler("test.cancel-mid", handler, queue=testing.QUEUE)
    job = submit(kind="test.cancel-mid")
    services.execute_next(testing.QUEUE)
    assert written == ["stopped at stage boundary"]
    info = api.get_job(job_id=job.id)
    assert info.status == JobStatus.CANCELLED and info.result_ref == ""


def test_commit_result_refused_after_cancel():
    written = []

    def handler(handle):
        api.cancel_job(job_id=handle.job.id, actor_id=None)
        return handle.commit_result(lambda: written.append("result") or "x")

    api.register_handler("test.cancel-commit", handler, queue=testing.QUEUE)
    job = submit(kind="test.cancel-commit")
    services.execute_next(testing.QUEUE)
    assert written == [] and status(job.id) == "cancelled"


def test_expired_lease_is_reaped_and_the_old_worker_cannot_write(tmp_path):
    job = submit()
    claimed, old_token = services.claim_next(testing.QUEUE)
    stale = services.Handle(selectors.to_info(claimed), old_token)
    Job.objects.filter(id=job.id).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert services.reap_expired_leases() == 1
    row = Job.objects.get(id=job.id)
    assert row.status == "queued" and "lease expired" in row.error and row.lease_token is None
    with pytest.raises(JobCancelled):
        stale.progress(Stage.INFERENCE, 50)
    with pytest.raises(JobCancelled):
        stale.commit_result(lambda: pytest.fail("a stale worker must not write"))
    Job.objects.filter(id=job.id).update(run_after=None)
    services.execute_next(testing.QUEUE)
    row.refresh_from_db()
    assert row.status == "succeeded" and row.attempts == 2


def test_lease_renewal_only_touches_held_running_jobs():
    job = submit()
    claimed, token = services.claim_next(testing.QUEUE)
    before = Job.objects.get(id=job.id).lease_expires_at
    assert services.renew_leases([token]) == 1
    assert Job.objects.get(id=job.id).lease_expires_at >= before
    assert services.renew_leases([uuid.uuid4()]) == 0


def test_reaper_buries_after_last_attempt():
    job = submit(max_attempts=1)
    services.claim_next(testing.QUEUE)
    Job.objects.filter(id=job.id).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    services.reap_expired_leases()
    assert status(job.id) == "dead"


def test_reconciler_resends_only_missing_messages(flushed_broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        jobs = [submit() for _ in range(3)]
    assert flushed_broker.queues[testing.QUEUE].qsize() == 3
    # Messages present: nothing to re-send (even once the grace period is over).
    assert services.resend_missing(testing.QUEUE, grace_seconds=0) == 0
    # The broker lost them (restart without persistence): one wake-up per queued job again.
    flushed_broker.flush_all()
    assert services.resend_missing(testing.QUEUE, grace_seconds=0) == 3
    assert flushed_broker.queues[testing.QUEUE].qsize() == 3
    assert services.resend_missing(testing.QUEUE, grace_seconds=0) == 0
    # Within the grace period a fresh job is left to its own on-commit message.
    flushed_broker.flush_all()
    assert services.resend_missing(testing.QUEUE, grace_seconds=3600) == 0
    assert {j.id for j in jobs} == set(Job.objects.values_list("id", flat=True))


def test_reconciler_leaves_the_next_job_to_claim_alone(flushed_broker, django_capture_on_commit_callbacks):
    """A consumer holds a prefetched message the broker no longer counts as ready: the
    reconciler sends one more, and marks a job last in claim order as dispatched, not the
    high-priority job a claim may be locking that row against (a claim skips locked rows)."""
    with django_capture_on_commit_callbacks(execute=True):
        normals = [submit() for _ in range(3)]
        high = submit(priority=Priority.HIGH)
    flushed_broker.queues[testing.QUEUE].get_nowait()  # prefetched by a consumer
    before = dict(Job.objects.values_list("id", "dispatched_at"))
    assert services.resend_missing(testing.QUEUE, grace_seconds=0) == 1
    changed = [i for i, at in Job.objects.values_list("id", "dispatched_at") if at != before[i]]
    assert changed == [normals[-1].id] != [high.id]
    assert services.claim_next(testing.QUEUE)[0].id == high.id


def test_broker_outage_at_submit_delays_but_keeps_the_job(monkeypatch, flushed_broker,
                                                          django_capture_on_commit_callbacks):
    def down(*a, **kw):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(flushed_broker, "enqueue", down)
    with django_capture_on_commit_callbacks(execute=True):
        job = submit()
    row = Job.objects.get(id=job.id)
    assert row.status == "queued" and row.dispatched_at is None
    monkeypatch.undo()
    assert services.resend_missing(testing.QUEUE) == 1  # never sent: no grace needed
    assert flushed_broker.queues[testing.QUEUE].qsize() == 1


def test_batch_getters_use_constant_queries():
    images = [uuid.uuid4() for _ in range(6)]
    for image in images:
        submit(image_id=image)
        submit(image_id=image, priority=Priority.HIGH)
    with CaptureQueriesContext(connection) as few:
        api.latest_jobs_for_images(image_ids=images[:2])
    with CaptureQueriesContext(connection) as many:
        latest = api.latest_jobs_for_images(image_ids=images)
    assert len(few) == len(many) <= 2
    assert set(latest) == set(images)
    assert all(info.priority == Priority.HIGH for info in latest.values())
    ids = list(Job.objects.values_list("id", flat=True))
    with CaptureQueriesContext(connection) as q:
        infos = api.get_jobs(ids=ids)
    assert len(q) == 1 and sorted(i.queue_position for i in infos.values()) == list(range(1, 13))
    assert api.latest_jobs_for_images(image_ids=[]) == {}


def test_active_jobs_for_project():
    project = uuid.uuid4()
    a = submit(project_id=project)
    b = submit(project_id=project, priority=Priority.HIGH)
    done = submit(project_id=project, priority=Priority.HIGH)
    api.cancel_job(job_id=done.id, actor_id=None)
    submit(project_id=uuid.uuid4())
    assert [j.id for j in api.active_jobs_for_project(project_id=project)] == [b.id, a.id]


def test_project_deleted_event_removes_its_jobs(project_factory, django_capture_on_commit_callbacks):
    from apps.images import api as images

    project, owner = project_factory()
    job = submit(project_id=project.id)
    other = submit(project_id=uuid.uuid4())
    with django_capture_on_commit_callbacks(execute=True):
        images.delete_project(actor_id=owner.id, project_id=project.id)
    assert not Job.objects.filter(id=job.id).exists()
    assert Job.objects.filter(id=other.id).exists()


def test_graceful_shutdown_gives_the_job_back():
    from dramatiq.middleware import Shutdown

    def handler(handle):
        raise Shutdown()

    api.register_handler("test.shutdown", handler, queue=testing.QUEUE)
    job = submit(kind="test.shutdown")
    with pytest.raises(Shutdown):
        services.execute_next(testing.QUEUE)
    row = Job.objects.get(id=job.id)
    assert row.status == "queued" and row.attempts == 0


def test_permanent_error_class_is_public():
    assert issubclass(PermanentJobError, Exception)


def test_embedded_restart_resends_every_queued_job(flushed_broker):
    from apps.tasks import supervisor

    jobs = [submit() for _ in range(2)]  # messages "sent" by the previous process
    Job.objects.update(dispatched_at=timezone.now())
    running = submit()
    services.claim_next(testing.QUEUE)  # a running job needs no message
    flushed_broker.flush_all()  # the in-memory broker died with the old process
    assert supervisor.resend_after_restart() == 2
    assert flushed_broker.queues[testing.QUEUE].qsize() == 2
    assert services.execute_next(testing.QUEUE) in {j.id for j in jobs}
    assert running.id


def test_supervisor_pass_writes_heartbeat_and_reaps(flushed_broker):
    from apps.tasks import supervisor
    from apps.tasks.models import WorkerHeartbeat

    job = submit()
    services.claim_next(testing.QUEUE)
    Job.objects.filter(id=job.id).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=5))
    result = supervisor.run_once()
    assert result["reaped"] == 1
    hb = WorkerHeartbeat.objects.get(worker_id=services.worker_id())
    assert hb.pid > 0 and testing.QUEUE in hb.queues


class _TimeLimitSpy(dramatiq.Middleware):
    def __init__(self):
        self.seen = []

    def before_process_message(self, broker, message):
        self.seen.append(message.options.get("time_limit"))


@pytest.mark.django_db(transaction=True)
def test_through_a_dramatiq_worker_on_the_stub_broker(flushed_broker, settings):
    """Embedded mode's path: on-commit message -> tasks.run_job actor -> handler; the message
    carries the job time limit."""
    spy = _TimeLimitSpy()
    flushed_broker.add_middleware(spy)
    settings.JOB_TIME_LIMIT_SECONDS = 7
    job = submit(params={"steps": 2})
    worker = dramatiq.Worker(flushed_broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        flushed_broker.join(testing.QUEUE, timeout=20_000)
        worker.join()
    finally:
        worker.stop()
        flushed_broker.middleware.remove(spy)
    assert status(job.id) == "succeeded"
    assert spy.seen == [7000]


def test_positions_are_broadcast_once_per_transaction_and_only_when_a_job_is_overtaken(
    django_capture_on_commit_callbacks,
):
    project = uuid.uuid4()

    def broadcasts(callbacks):
        return sum(1 for cb in callbacks if getattr(cb, "positions_queue", None) == testing.QUEUE)

    with django_capture_on_commit_callbacks() as callbacks:
        normal = [submit(project_id=project) for _ in range(3)]
    assert broadcasts(callbacks) == 0  # each joined the end of the queue: nobody moved
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        urgent = [submit(project_id=project, priority=Priority.HIGH) for _ in range(2)]
    assert broadcasts(callbacks) == 1  # the normal jobs moved back: told once for the transaction
    order = [*urgent, *normal]
    assert selectors.queued_positions(testing.QUEUE) == {project: {str(j.id): i for i, j in enumerate(order, 1)}}
