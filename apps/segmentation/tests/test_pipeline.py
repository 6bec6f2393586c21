"""The job handler end to end: the real broker wiring (StubBroker here, Redis/RabbitMQ in the
distributed run), an in-process dramatiq.Worker, real demo images, the real engine."""

from __future__ import annotations

import contextlib

import dramatiq
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.common import events
from apps.images import api as images_api
from apps.segmentation import api
from apps.segmentation.contracts import ImageStatus
from apps.segmentation.models import ResultVersion
from apps.tasks import api as tasks_api
from apps.tasks.contracts import JobCancelled, JobStatus

pytestmark = pytest.mark.django_db(transaction=True)


@contextlib.contextmanager
def recording(*names):
    seen: list = []

    def record(event):
        seen.append(event)

    for name in names:
        events.subscribe(name, record)
    try:
        yield seen
    finally:
        for name in names:
            events.unsubscribe(name, record)


def run_worker():
    """Process every queued message with one worker thread, then stop."""
    broker = dramatiq.get_broker()
    if not hasattr(broker, "join"):
        pytest.skip("needs a broker that can be drained")
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        for queue in list(broker.get_declared_queues()):
            broker.join(queue, timeout=120_000)
        worker.join()
    finally:
        worker.stop()


def test_classical_run_stores_one_version_with_polygons_and_metrics(world):
    with recording("segmentation.run.requested", "segmentation.run.started", "segmentation.run.succeeded") as seen:
        [(job, created)] = api.request_segmentation(user_id=world.editor.id, image_ids=[world.image_id], model="classical")
        assert created
        run_worker()
    done = tasks_api.get_job(job_id=job.id)
    assert done.status == JobStatus.SUCCEEDED, done.error
    assert done.progress == 100 and done.attempts == 1
    rows = list(ResultVersion.objects.filter(image_id=world.image_id))
    assert len(rows) == 1
    row = rows[0]
    assert done.result_ref == str(row.id) and row.job_id == job.id and row.version == 1
    result = api.get_result_version(image_id=world.image_id)
    assert result.model_name == "classical" and result.model_version
    assert result.source == "model" and result.author_id == world.editor.id
    assert result.object_count == len(result.polygons) >= 1
    poly = result.polygons[0]
    assert len(poly.exterior) >= 3 and poly.metrics["area_px"] > 1000 and poly.metrics["area_um2"] > 0
    assert result.timings["total"] > 0 and result.timings["decode"] > 0 and "read" in result.timings
    assert result.params["model"] == "classical"
    names = [e.name for e in seen]
    assert names == ["segmentation.run.requested", "segmentation.run.started", "segmentation.run.succeeded"]
    assert all(e.project_id == str(world.project_id) and e.actor_id == str(world.editor.id) for e in seen)
    assert seen[-1].model_name == "classical" and seen[-1].result_version == 1
    state = api.get_image_states(image_ids=[world.image_id])[world.image_id]
    assert state.status == ImageStatus.DONE and state.latest_version == 1 and state.progress == 100
    # Resegmenting adds a version.
    [(again, created)] = api.request_segmentation(user_id=world.editor.id, image_ids=[world.image_id], model="classical")
    assert created and again.id != job.id
    run_worker()
    assert list(ResultVersion.objects.filter(image_id=world.image_id).values_list("version", flat=True)) == [2, 1]


def test_unet_run_when_the_trained_model_is_present(world):
    names = {m.name: m for m in api.list_models()}
    unets = [m for m in names.values() if m.kind == "unet"]
    if not unets:
        pytest.skip("no trained U-Net in ml/weights yet")
    [(job, _)] = api.request_segmentation(user_id=world.editor.id, image_ids=[world.image_id], model=unets[0].name)
    run_worker()
    done = tasks_api.get_job(job_id=job.id)
    assert done.status == JobStatus.SUCCEEDED, done.error
    result = api.get_result_version(image_id=world.image_id)
    assert result.model_name == unets[0].name and result.object_count >= 1
    assert result.polygons[0].metrics["area_px"] > 0


def test_corrupt_stored_file_fails_at_once_without_retry(world):
    info = images_api.get_image(image_id=world.image_id)
    default_storage.delete(info.storage_name)
    assert default_storage.save(info.storage_name, ContentFile(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)) == info.storage_name
    with recording("segmentation.run.failed") as failed:
        [(job, _)] = api.request_segmentation(user_id=world.editor.id, image_ids=[world.image_id], model="classical")
        run_worker()
    done = tasks_api.get_job(job_id=job.id)
    assert done.status == JobStatus.FAILED and done.attempts == 1
    assert "corrupt" in done.error
    assert ResultVersion.objects.count() == 0
    assert [e.subject_id for e in failed] == [str(job.id)] and failed[0].model_name == "classical"
    state = api.get_image_states(image_ids=[world.image_id])[world.image_id]
    assert state.status == ImageStatus.FAILED and "corrupt" in state.error


def test_job_cancelled_while_running_writes_no_result(world):
    def cancel_when_started(event):
        tasks_api.cancel_job(job_id=event.subject_id, actor_id=world.editor.id)

    events.subscribe("segmentation.run.started", cancel_when_started)
    try:
        with recording("segmentation.run.cancelled", "segmentation.run.succeeded") as seen:
            [(job, _)] = api.request_segmentation(user_id=world.editor.id, image_ids=[world.image_id], model="classical")
            run_worker()
    finally:
        events.unsubscribe("segmentation.run.started", cancel_when_started)
    done = tasks_api.get_job(job_id=job.id)
    assert done.status == JobStatus.CANCELLED
    assert done.started_at is not None  # it was running when cancelled
    assert ResultVersion.objects.count() == 0
    assert [e.name for e in seen] == ["segmentation.run.cancelled"]
    assert api.get_image_states(image_ids=[world.image_id])[world.image_id].status == ImageStatus.NEW


def test_job_cancelled_while_queued_never_runs(world):
    [(job, _)] = api.request_segmentation(user_id=world.editor.id, image_ids=[world.image_id], model="classical")
    tasks_api.cancel_job(job_id=job.id, actor_id=world.editor.id)
    run_worker()
    done = tasks_api.get_job(job_id=job.id)
    assert done.status == JobStatus.CANCELLED and done.started_at is None
    assert ResultVersion.objects.count() == 0


def test_one_job_costs_a_bounded_number_of_statements(world):
    """The worker side of one job (claim -> result stored), counted on this thread's connection:
    the per-job database cost behind docs/benchmarks.md (Pipeline). 40 statements before the
    savings, then 33, 26, now 24: no savepoint around a nested status change, websocket messages
    built from the row just written, no duplicate 'loading' write, one cancellation check per
    stage boundary (none where a stage write follows), status changes as UPDATE ... RETURNING,
    the run's start event in the claim transaction, the image row read once, the audit chain's
    head read once per transaction; on PostgreSQL only the result transaction waits for the
    WAL flush."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    [(job, _)] = api.request_segmentation(user_id=world.editor.id, image_ids=[world.image_id], model="classical")
    run_job = dramatiq.get_broker().get_actor("tasks.run_job")
    connection.close()  # a fresh connection, as a worker thread starts with
    with CaptureQueriesContext(connection) as queries:
        run_job.fn(str(job.id), "jobs")  # in this thread, as a worker thread runs it
    done = tasks_api.get_job(job_id=job.id)
    assert done.status == JobStatus.SUCCEEDED, done.error
    sql = [q["sql"] for q in queries.captured_queries]
    progress_writes = [s for s in sql if s.startswith('UPDATE "tasks_job" SET "stage"')]
    assert [s.split("'")[1] for s in progress_writes] == ["inference", "post-processing", "saving"]
    cancel_checks = [s for s in sql if s.startswith('SELECT 1 AS "a" FROM "tasks_job"')]
    assert not cancel_checks  # the claim and the three stage writes are the checks
    assert len([s for s in sql if s.startswith('SELECT "images_image"')]) == 1  # the image row, read once
    assert not [s for s in sql if s.startswith("SAVEPOINT")][1:]  # only the result insert's
    audit = [s for s in sql if s.startswith('INSERT INTO "audit_auditrecord"')]
    assert len(audit) == 4  # job started, run started, run succeeded, job succeeded
    assert len([s for s in sql if "audit_chain_head" in s or "ORDER BY sequence DESC" in s]) == 2  # one per transaction
    if connection.vendor == "postgresql":
        # The worker session commits asynchronously, the result transaction synchronously.
        assert sql[0] == "SET synchronous_commit TO off"
        sync = sql.index("SET LOCAL synchronous_commit TO on")
        result = next(i for i, s in enumerate(sql) if s.startswith('INSERT INTO "segmentation_resultversion"'))
        assert sql[sync - 1].startswith("BEGIN") and sync < result
        sql = sql[1:]  # once per connection
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "off"
        [(again, _)] = api.request_segmentation(user_id=world.editor.id, image_ids=[world.image_ids[1]], model="classical")
        with CaptureQueriesContext(connection) as second:
            run_job.fn(str(again.id), "jobs")
        assert "SET synchronous_commit TO off" not in [q["sql"] for q in second.captured_queries]
    assert len(sql) <= 24, "\n".join(sql)


class _FakeHandle:
    """Records what the progress mapper asks of the job handle; cancels on demand."""

    def __init__(self):
        self.calls: list = []
        self.cancelled = False

    def progress(self, stage, percent):
        self.calls.append(("write", stage, percent))
        if self.cancelled:
            raise JobCancelled("cancelled")

    def check_cancelled(self):
        self.calls.append(("check",))
        if self.cancelled:
            raise JobCancelled("cancelled")


def test_every_stage_boundary_is_checked_once_by_a_write_or_a_query():
    from apps.segmentation.jobs import _Progress

    handle = _FakeHandle()
    progress = _Progress(handle)  # the claim (running, loading 0) confirmed it
    # The engine's order: report loading 0, check, (model), loading 100, check, inference 0 ...
    progress("loading", 0)
    assert progress.should_cancel() is False  # right after the claim: free
    progress("loading", 100)
    assert progress.should_cancel() is False  # the inference write that follows checks: free
    progress("inference", 0)
    progress("inference", 100)
    assert progress.should_cancel() is False  # free again
    progress("post-processing", 0)
    assert handle.calls == [("write", "inference", 10), ("write", "post-processing", 75)]

    handle.cancelled = True  # cancelled during post-processing
    assert progress.should_cancel() is False  # the post-processing write confirmed the claim: free
    assert progress.should_cancel() is True  # the next check queries, and sees it
    with pytest.raises(JobCancelled):  # a write at the next boundary sees it too
        progress("saving", 0)


def test_a_cancellation_during_loading_stops_the_run_at_the_inference_boundary():
    from apps.segmentation.jobs import _Progress

    handle = _FakeHandle()
    progress = _Progress(handle)
    progress("loading", 0)
    assert progress.should_cancel() is False
    handle.cancelled = True  # cancelled while the image is read and decoded
    progress("loading", 100)
    assert progress.should_cancel() is False
    with pytest.raises(JobCancelled):  # the write of the next stage sees it: no inference runs
        progress("inference", 0)


def test_a_dead_run_and_its_replay_are_published(world, settings, monkeypatch):
    """A transient error on the last attempt: the job is dead and the run failed (status dead);
    replayed, it runs again and stores one result. Each step publishes its event."""
    from apps.segmentation import engine as engine_adapter

    settings.JOB_MAX_ATTEMPTS = 1
    real = engine_adapter.get_engine()

    class Broken:
        def segment(self, *args, **kwargs):
            raise RuntimeError("the engine fell over")

    run_job = dramatiq.get_broker().get_actor("tasks.run_job")
    names = ("segmentation.run.failed", "tasks.job.dead", "tasks.job.replayed", "segmentation.run.succeeded")
    with recording(*names) as seen:
        [(job, _)] = api.request_segmentation(user_id=world.editor.id, image_ids=[world.image_id], model="classical")
        monkeypatch.setattr(engine_adapter, "get_engine", lambda: Broken())
        run_job.fn(str(job.id), "jobs")
        dead = tasks_api.get_job(job_id=job.id)
        assert dead.status == JobStatus.DEAD and "the engine fell over" in dead.error
        assert sorted(e.name for e in seen) == ["segmentation.run.failed", "tasks.job.dead"]
        failed = next(e for e in seen if e.name == "segmentation.run.failed")
        assert failed.status == "dead" and failed.model_name == "classical" and "fell over" in failed.error
        assert ResultVersion.objects.count() == 0

        monkeypatch.setattr(engine_adapter, "get_engine", lambda: real)
        tasks_api.replay_job(job_id=job.id, actor_id=world.owner.id)
        run_job.fn(str(job.id), "jobs")
    replayed = [e for e in seen if e.name == "tasks.job.replayed"]
    assert len(replayed) == 1 and replayed[0].actor_id == str(world.owner.id)
    assert [e.name for e in seen][-1] == "segmentation.run.succeeded"
    done = tasks_api.get_job(job_id=job.id)
    assert done.status == JobStatus.SUCCEEDED and done.attempts == 1
    assert ResultVersion.objects.filter(job_id=job.id).count() == 1
