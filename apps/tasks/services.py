"""Writes of the tasks context: submission, the one transition function, claiming, execution.

Design (see README.md and docs/operations.md):

* The job row is the single source of truth. Every status write is ONE compare-and-set
  ``UPDATE ... WHERE id = %s AND status IN (allowed sources) [AND lease_token = %s]``
  (:func:`transition`), checked against ``contracts.TRANSITIONS``: a stale writer matches
  no row and changes nothing.
* Broker messages are wake-ups, not work items: ``tasks.run_job`` claims the best eligible
  queued job of its queue (``ORDER BY priority DESC, created_at``; ``FOR UPDATE SKIP LOCKED``
  on PostgreSQL). Priority is therefore exact and independent of the broker, a duplicate
  message is a no-op, and a lost message is replaced by the reconciler
  (:func:`resend_missing`), which keeps "messages waiting >= jobs waiting" per queue.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
import socket
import threading
import uuid
import weakref
from collections.abc import Callable
from typing import Any

import dramatiq
from django.conf import settings
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from apps.common import events
from apps.common.transactions import pending_on_commit
from apps.tasks import events as job_events
from apps.tasks import selectors
from apps.tasks.contracts import (
    JobCancelled,
    JobInfo,
    JobNotFound,
    JobStateError,
    JobStatus,
    PermanentJobError,
    Priority,
    Stage,
    allowed_sources,
)
from apps.tasks.models import ACTIVE, Job

logger = logging.getLogger(__name__)

ACTOR_NAME = "tasks.run_job"
DEFAULT_QUEUE = "jobs"
Handler = Callable[[Any], "str | None"]
StartHook = Callable[[JobInfo], None]


@dataclasses.dataclass(frozen=True)
class _Registration:
    handler: Handler
    queue: str
    on_start: StartHook | None = None


_handlers: dict[str, _Registration] = {}


class LeaseLost(JobCancelled):
    """This worker no longer owns the job (lease reaped, job deleted): stop, write nothing."""


# --- settings --------------------------------------------------------------------------------


def lease_seconds() -> float:
    return float(settings.JOB_LEASE_SECONDS)


def supervisor_interval() -> float:
    return max(0.2, min(10.0, lease_seconds() / 3))


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with +-20% jitter: base * 2^(attempt-1), capped."""
    base = float(getattr(settings, "JOB_RETRY_BASE_SECONDS", 5))
    cap = float(getattr(settings, "JOB_RETRY_MAX_SECONDS", 300))
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return delay * random.uniform(0.8, 1.2)


# --- handlers --------------------------------------------------------------------------------


def register_handler(
    kind: str, handler: Handler, *, queue: str = DEFAULT_QUEUE, on_start: StartHook | None = None
) -> None:
    """Register the function that performs jobs of ``kind`` (from an AppConfig.ready), and
    optionally ``on_start``, called inside the claim's transaction (its events commit with
    the claim, or not at all)."""
    if not kind or len(kind) > 64:
        raise ValueError("job kind must be 1-64 characters")
    _handlers[kind] = _Registration(handler=handler, queue=queue, on_start=on_start)
    broker = dramatiq.get_broker()
    if queue not in broker.get_declared_queues():
        broker.declare_queue(queue)


def registered_kinds() -> dict[str, str]:
    return {kind: reg.queue for kind, reg in _handlers.items()}


def known_queues() -> set[str]:
    return {DEFAULT_QUEUE, *(reg.queue for reg in _handlers.values())}


# --- events and live updates ------------------------------------------------------------------


def _publish(event_cls: type[events.Event], job: Job, actor_id: Any = None, **extra: Any) -> None:
    actor = actor_id if actor_id is not None else job.owner_id
    events.publish(
        event_cls(
            subject_id=str(job.id),
            actor_id=str(actor) if actor else None,
            project_id=str(job.project_id) if job.project_id else None,
            kind=job.kind,
            image_id=str(job.image_id) if job.image_id else None,
            attempt=job.attempts,
            **extra,
        )
    )


def _notify_on_commit(job: Job, info: JobInfo | None = None) -> None:
    """Push the job's new state (this row, as written in this transaction, or ``info`` when the
    caller has it) to its project's websocket group once committed. A queued job without
    ``info`` is read again, for its queue position."""
    if job.project_id is None:
        return
    job_id = job.id
    known = info or (None if job.status == JobStatus.QUEUED.value else selectors.to_info(job))

    def send() -> None:
        from apps.tasks.realtime import broadcast

        info = known or selectors.get_job(job_id)
        if info is not None:
            broadcast.job_changed(info)

    transaction.on_commit(send)


def notify_positions_on_commit(queue: str) -> None:
    """After commit, tell each project with queued jobs in ``queue`` their new positions
    (once per transaction and queue, however many jobs moved)."""
    if any(getattr(callback, "positions_queue", None) == queue for callback in pending_on_commit()):
        return

    def send() -> None:
        from apps.tasks.realtime import broadcast

        broadcast.positions(selectors.queued_positions(queue))

    send.positions_queue = queue  # type: ignore[attr-defined]
    transaction.on_commit(send)


# --- the one place statuses change ---------------------------------------------------------------


def _update_returning(qs: Any, values: dict[str, Any]) -> Job | None:
    """``qs.update(**values)`` as one statement that also returns the updated row (``UPDATE ...
    RETURNING``: PostgreSQL, SQLite >= 3.35), instead of an UPDATE and a SELECT."""
    query = qs.query.chain(UpdateQuery)
    query.add_update_values(values)
    update_sql, params = query.get_compiler(qs.db).as_sql()
    quote = connections[qs.db].ops.quote_name
    columns = ", ".join(quote(f.column) for f in Job._meta.concrete_fields)
    rows = list(Job.objects.db_manager(qs.db).raw(f"{update_sql} RETURNING {columns}", params))
    return rows[0] if rows else None


def transition(
    job_id: uuid.UUID | str,
    to: JobStatus,
    *,
    token: uuid.UUID | None = None,
    only_from: set[JobStatus] | None = None,
    event: type[events.Event] | None = None,
    actor_id: Any = None,
    event_extra: dict[str, Any] | None = None,
    **fields: Any,
) -> Job | None:
    """Compare-and-set the job's status to ``to``; return the updated job, or None if the job
    was not in an allowed source status (or not held with ``token``)."""
    sources = allowed_sources(to)
    if only_from is not None:
        sources = sources & frozenset(only_from)
    if not sources:
        return None
    # No savepoint when nested (claim, commit_result): an error here aborts the caller anyway.
    with transaction.atomic(savepoint=False):
        qs = Job.objects.filter(id=job_id, status__in=[s.value for s in sources])
        if token is not None:
            qs = qs.filter(lease_token=token)
        job = _update_returning(qs, {"status": to.value, "updated_at": timezone.now(), **fields})
        if job is None:
            return None
        if event is not None:
            _publish(event, job, actor_id, **(event_extra or {}))
        _notify_on_commit(job)
        return job


# --- submission and dispatch -------------------------------------------------------------------


def submit_job(
    *,
    kind: str,
    owner_id: uuid.UUID | None,
    project_id: uuid.UUID | None = None,
    image_id: uuid.UUID | None = None,
    params: dict[str, Any] | None = None,
    priority: int = Priority.NORMAL,
    dedupe_key: str | None = None,
    max_attempts: int | None = None,
) -> tuple[JobInfo, bool]:
    registration = _handlers.get(kind)
    if registration is None:
        raise ValueError(f"no handler registered for job kind {kind!r}")
    priority = int(priority)
    if not Priority.LOW <= priority <= Priority.HIGH:
        raise ValueError(f"priority must be between {int(Priority.LOW)} and {int(Priority.HIGH)}")
    if dedupe_key:
        existing = _active_by_dedupe_key(dedupe_key)
        if existing is not None:
            return selectors.to_info(existing), False
    try:
        with transaction.atomic():
            job = Job.objects.create(
                kind=kind,
                queue=registration.queue,
                owner_id=owner_id,
                project_id=project_id,
                image_id=image_id,
                params=params or {},
                priority=priority,
                dedupe_key=dedupe_key or None,
                max_attempts=max(1, max_attempts or settings.JOB_MAX_ATTEMPTS),
            )
            _publish(job_events.JobQueued, job, owner_id, priority=priority)
    except IntegrityError:
        # Lost a race with a concurrent identical submission: return the winner.
        existing = _active_by_dedupe_key(dedupe_key) if dedupe_key else None
        if existing is None:
            raise
        return selectors.to_info(existing), False
    # Queued behind the others, the new job moves nobody (its own position is in its message);
    # one that overtakes queued jobs tells them their new positions.
    job.ahead, overtakes = selectors.new_job_standing(job)
    info = selectors.to_info(job)
    dispatch_on_commit(job)
    _notify_on_commit(job, info)
    if overtakes:
        notify_positions_on_commit(job.queue)
    return info, True


def _active_by_dedupe_key(key: str) -> Job | None:
    # No position annotation: to_info reads it only when the job found is still queued.
    return Job.objects.filter(dedupe_key=key, status__in=ACTIVE).first()


def dispatch_on_commit(job: Job, *, delay_seconds: float | None = None) -> None:
    job_id, queue, priority = job.id, job.queue, job.priority
    transaction.on_commit(lambda: send_wakeup(job_id, queue, priority, delay_seconds=delay_seconds))


def send_wakeup(job_id: uuid.UUID, queue: str, priority: int, *, delay_seconds: float | None = None) -> bool:
    """Hand one wake-up message to the broker. A failure only delays the job: the reconciler
    re-sends for queued jobs that have fewer messages than jobs."""
    try:
        broker = dramatiq.get_broker()
        message = dramatiq.Message(
            queue_name=queue,
            actor_name=ACTOR_NAME,
            args=(str(job_id), queue),
            kwargs={},
            options={
                "broker_priority": max(0, min(10, int(priority))),
                "time_limit": int(settings.JOB_TIME_LIMIT_SECONDS * 1000),
                "max_retries": 0,
            },
        )
        broker.enqueue(message, delay=int(delay_seconds * 1000) if delay_seconds else None)
    except Exception as exc:
        logger.warning("could not send job %s to the broker (%s); the reconciler will re-send it", job_id, exc)
        return False
    # A delayed message reaches the queue only at its due time: count it as sent then.
    Job.objects.filter(id=job_id).update(
        dispatched_at=timezone.now() + dt.timedelta(seconds=delay_seconds or 0)
    )
    return True


# --- user actions ------------------------------------------------------------------------------


def cancel_job(*, job_id: uuid.UUID | str, actor_id: Any) -> JobInfo:
    """Queued or running -> cancelled at once. A running handler stops at its next stage
    boundary and can no longer commit a result (``commit_result`` checks under the row lock)."""
    now = timezone.now()
    job = transition(
        job_id,
        JobStatus.CANCELLED,
        only_from={JobStatus.QUEUED, JobStatus.RUNNING},
        event=job_events.JobCancelled,
        actor_id=actor_id,
        finished_at=now,
        lease_expires_at=None,
    )
    if job is None:
        current = Job.objects.filter(id=job_id).first()
        if current is None:
            raise JobNotFound(str(job_id))
        if current.status == JobStatus.CANCELLED.value:
            return selectors.to_info(current)
        raise JobStateError(f"a {current.status} job cannot be cancelled")
    notify_positions_on_commit(job.queue)
    return selectors.to_info(job)


def replay_job(*, job_id: uuid.UUID | str, actor_id: Any) -> JobInfo:
    """A dead or failed job -> queued again with fresh attempts."""
    current = Job.objects.filter(id=job_id).first()
    if current is None:
        from apps.tasks.contracts import JobNotFound

        raise JobNotFound(str(job_id))
    try:
        with transaction.atomic():
            job = transition(
                job_id,
                JobStatus.QUEUED,
                only_from={JobStatus.DEAD, JobStatus.FAILED},
                event=job_events.JobReplayed,
                actor_id=actor_id,
                attempts=0,
                progress=0,
                stage=Stage.QUEUED.value,
                error="",
                run_after=None,
                finished_at=None,
                started_at=None,
                worker_id="",
                lease_token=None,
                lease_expires_at=None,
                queued_at=timezone.now(),
            )
    except IntegrityError:
        raise JobStateError("an identical job is already queued or running") from None
    if job is None:
        raise JobStateError(f"only dead or failed jobs can be replayed (this one is {current.status})")
    dispatch_on_commit(job)
    notify_positions_on_commit(job.queue)
    return selectors.to_info(job)


def requeue_job(*, job_id: uuid.UUID | str, actor_id: Any = None) -> bool:
    """Operator command: a dead/failed job is replayed; a queued one gets a fresh message."""
    job = Job.objects.filter(id=job_id).first()
    if job is None:
        return False
    if job.status in (JobStatus.DEAD.value, JobStatus.FAILED.value):
        replay_job(job_id=job_id, actor_id=actor_id)
        return True
    if job.status == JobStatus.QUEUED.value:
        send_wakeup(job.id, job.queue, job.priority)
        return True
    return False


def delete_project_jobs(project_id: uuid.UUID | str) -> int:
    """The project is gone: its jobs go too (a running one loses its lease row and stops)."""
    deleted, _ = Job.objects.filter(project_id=project_id).delete()
    return deleted


def on_project_deleted(event: events.Event) -> None:
    project_id = event.project_id or event.subject_id
    if project_id:
        delete_project_jobs(project_id)


# --- claiming and running (worker side) ----------------------------------------------------------

_process_worker_id: str | None = None
_held: dict[uuid.UUID, uuid.UUID] = {}  # job id -> lease token, held by this process
_held_lock = threading.Lock()


def worker_id() -> str:
    global _process_worker_id
    import os

    if _process_worker_id is None:
        _process_worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    return _process_worker_id


def held_tokens() -> list[uuid.UUID]:
    with _held_lock:
        return list(_held.values())


def claim_next(queue: str) -> tuple[Job, uuid.UUID] | None:
    """Claim the best eligible queued job of ``queue`` (queued -> running, attempts + 1)."""
    for _ in range(5):
        now = timezone.now()
        with transaction.atomic():
            candidates = selectors.eligible_queued(queue, now=now).order_by(*selectors.claim_order())
            if connection.features.has_select_for_update_skip_locked:
                candidates = candidates.select_for_update(skip_locked=True)
            job_id = candidates.values_list("id", flat=True).first()
            if job_id is None:
                return None
            # Started and leased from when the row is locked, not from the earlier read of the
            # clock: another consumer that skipped this row (and so locked later) would
            # otherwise stamp its job with a start before this one's.
            now = timezone.now()
            token = uuid.uuid4()
            job = transition(
                job_id,
                JobStatus.RUNNING,
                only_from={JobStatus.QUEUED},
                event=job_events.JobStarted,
                event_extra={"worker_id": worker_id()},
                attempts=F("attempts") + 1,
                lease_token=token,
                worker_id=worker_id(),
                lease_expires_at=now + dt.timedelta(seconds=lease_seconds()),
                started_at=Coalesce(F("started_at"), now),
                progress=0,
                stage=Stage.LOADING.value,
                run_after=None,
            )
            registration = _handlers.get(job.kind) if job is not None else None
            if registration is not None and registration.on_start is not None:
                registration.on_start(selectors.to_info(job))
        if job is not None:
            notify_positions_on_commit(queue)
            return job, token
    return None


class Handle:
    """The :class:`~apps.tasks.contracts.JobHandle` given to handlers."""

    def __init__(self, job: JobInfo, token: uuid.UUID):
        self.job = job
        self._token = token
        self.committed = False
        self.result_ref: str | None = None

    def _stop_reason(self) -> JobCancelled:
        row = Job.objects.filter(id=self.job.id).values("status", "lease_token").first()
        if row is None:
            return LeaseLost("the job no longer exists")
        if row["status"] == JobStatus.CANCELLED.value:
            return JobCancelled("the job was cancelled")
        return LeaseLost(f"this worker no longer holds the job (status {row['status']})")

    def _owned(self) -> Any:
        return Job.objects.filter(id=self.job.id, status=JobStatus.RUNNING.value, lease_token=self._token)

    def progress(self, stage: str, percent: int) -> None:
        percent = max(0, min(100, int(percent)))
        if self._owned().update(stage=str(stage)[:32], progress=percent, updated_at=timezone.now()) != 1:
            raise self._stop_reason()
        from apps.tasks.realtime import broadcast

        broadcast.progress(self.job, stage=str(stage), progress=percent)

    def check_cancelled(self) -> None:
        if not self._owned().exists():
            raise self._stop_reason()

    def commit_result(self, write: Callable[[], str | None]) -> str | None:
        with transaction.atomic():
            if connection.vendor == "postgresql":  # durable once acknowledged, whatever the session says
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO on")
            locked = self._owned().select_for_update().values_list("id", flat=True).first()
            if locked is None:
                raise self._stop_reason()
            ref = write()
            ref = "" if ref is None else str(ref)
            job = transition(
                self.job.id,
                JobStatus.SUCCEEDED,
                token=self._token,
                event=job_events.JobSucceeded,
                event_extra={"result_ref": ref},
                result_ref=ref,
                progress=100,
                stage=Stage.DONE.value,
                finished_at=timezone.now(),
                lease_expires_at=None,
                error="",
            )
            if job is None:  # cannot happen while we hold the lock; refuse to keep the write
                raise self._stop_reason()
        self.committed = True
        self.result_ref = ref
        return ref


_async_commit_connections: weakref.WeakSet = weakref.WeakSet()


def _worker_commit_mode() -> None:
    """On PostgreSQL, this worker thread's session commits without waiting for the WAL flush
    (``synchronous_commit = off``, ``JOB_WORKER_ASYNC_COMMIT``): claims, stage writes and
    events. A database crash can lose the last fraction of a second of them, whole
    transactions only, which leases repair (the job runs again). The result transaction
    (:meth:`Handle.commit_result`) still waits for the flush, so a stored result stays."""
    if not getattr(settings, "JOB_WORKER_ASYNC_COMMIT", False) or connection.vendor != "postgresql":
        return
    if connection.in_atomic_block:
        return  # a caller's transaction (tests): leave its session alone
    connection.ensure_connection()
    raw = connection.connection
    if raw not in _async_commit_connections:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")
        _async_commit_connections.add(raw)


def execute_next(queue: str = DEFAULT_QUEUE) -> uuid.UUID | None:
    """Body of the ``tasks.run_job`` actor: claim one job and run its handler."""
    _worker_commit_mode()
    claimed = claim_next(queue)
    if claimed is None:
        return None
    job, token = claimed
    with _held_lock:
        _held[job.id] = token
    try:
        _run(job, token)
    finally:
        with _held_lock:
            _held.pop(job.id, None)
    return job.id


def _run(job: Job, token: uuid.UUID) -> None:
    from dramatiq.middleware import Shutdown, TimeLimitExceeded

    info = selectors.to_info(job)
    registration = _handlers.get(job.kind)
    if registration is None:
        fail(job.id, token, f"no handler registered for job kind {job.kind!r} on this worker")
        return
    handle = Handle(info, token)
    try:
        ref = registration.handler(handle)
        if not handle.committed and transition(
            job.id,
            JobStatus.SUCCEEDED,
            token=token,
            event=job_events.JobSucceeded,
            event_extra={"result_ref": "" if ref is None else str(ref)},
            result_ref="" if ref is None else str(ref),
            progress=100,
            stage=Stage.DONE.value,
            finished_at=timezone.now(),
            lease_expires_at=None,
            error="",
        ) is None:
            logger.info("job %s finished but was cancelled or taken over meanwhile", job.id)
    except LeaseLost as exc:
        logger.warning("job %s: %s; stopping without writing", job.id, exc)
    except JobCancelled:
        # Cancelled by a user (already 'cancelled'), or the handler gave up on its own.
        transition(job.id, JobStatus.CANCELLED, token=token, event=job_events.JobCancelled,
                   finished_at=timezone.now(), lease_expires_at=None)
    except PermanentJobError as exc:
        fail(job.id, token, str(exc) or type(exc).__name__)
    except Shutdown:
        # Graceful worker stop: give the job back without spending an attempt.
        requeued = transition(job.id, JobStatus.QUEUED, token=token, attempts=F("attempts") - 1,
                              lease_token=None, lease_expires_at=None, worker_id="", stage=Stage.QUEUED.value,
                              progress=0)
        if requeued is not None:
            dispatch_on_commit(requeued)
        raise
    except TimeLimitExceeded:
        retry_or_bury(job.id, token, f"time limit of {settings.JOB_TIME_LIMIT_SECONDS} s exceeded")
    except Exception as exc:
        logger.exception("job %s (%s) attempt %s failed", job.id, job.kind, job.attempts)
        retry_or_bury(job.id, token, f"{type(exc).__name__}: {exc}"[:2000])


def fail(job_id: uuid.UUID, token: uuid.UUID, error: str) -> None:
    transition(job_id, JobStatus.FAILED, token=token, event=job_events.JobFailed, event_extra={"error": error},
               error=error, finished_at=timezone.now(), lease_expires_at=None)


def retry_or_bury(job_id: uuid.UUID, token: uuid.UUID | None, error: str, *, reaped: bool = False) -> Job | None:
    """A transient failure: queued again after a backoff, or dead after the last attempt."""
    job = Job.objects.filter(id=job_id).first()
    if job is None:
        return None
    token = token if token is not None else job.lease_token
    if job.attempts >= job.max_attempts:
        return transition(job_id, JobStatus.DEAD, token=token, only_from={JobStatus.RUNNING},
                          event=job_events.JobDead, event_extra={"error": error}, error=error,
                          finished_at=timezone.now(), lease_expires_at=None)
    delay = backoff_seconds(job.attempts)
    requeued = transition(
        job_id,
        JobStatus.QUEUED,
        token=token,
        only_from={JobStatus.RUNNING},
        event=job_events.JobRetrying,
        event_extra={"error": error, "delay_seconds": round(delay, 3)},
        error=error,
        run_after=timezone.now() + dt.timedelta(seconds=delay),
        lease_token=None,
        lease_expires_at=None,
        worker_id="",
        progress=0,
        stage=Stage.QUEUED.value,
    )
    if requeued is not None:
        dispatch_on_commit(requeued, delay_seconds=delay)
    return requeued


# --- supervision (every worker process) -----------------------------------------------------------


def renew_leases(tokens: list[uuid.UUID]) -> int:
    if not tokens:
        return 0
    return Job.objects.filter(status=JobStatus.RUNNING.value, lease_token__in=tokens).update(
        lease_expires_at=timezone.now() + dt.timedelta(seconds=lease_seconds())
    )


def reap_expired_leases(limit: int = 100) -> int:
    """Running jobs whose worker stopped renewing its lease: retried (or dead)."""
    expired = list(
        Job.objects.filter(status=JobStatus.RUNNING.value, lease_expires_at__lt=timezone.now())
        .values_list("id", "lease_token", "worker_id")[:limit]
    )
    count = 0
    for job_id, token, holder in expired:
        with transaction.atomic():
            if retry_or_bury(job_id, token, f"worker {holder or '?'} lost (lease expired)", reaped=True) is not None:
                count += 1
                logger.warning("re-queued job %s: worker %s stopped renewing its lease", job_id, holder)
    return count


def pending_messages(queue: str) -> int | None:
    """Ready messages of ``queue`` in the broker (None when it cannot be told)."""
    broker = dramatiq.get_broker()
    kinds = {cls.__name__ for cls in type(broker).__mro__}  # subclasses too (config.dramatiq)
    try:
        if "StubBroker" in kinds:
            q = broker.queues.get(queue)
            return q.qsize() if q is not None else 0
        if "RedisBroker" in kinds:
            return int(broker.client.llen(f"{broker.namespace}:{queue}"))
        if "RabbitmqBroker" in kinds:
            return int(broker.get_queue_message_counts(queue)[0])
    except Exception as exc:
        logger.warning("cannot read the depth of queue %s: %s", queue, exc)
    return None


def resend_missing(queue: str, *, grace_seconds: float | None = None) -> int:
    """Reconciler: make sure every eligible queued job has a message waiting for it.

    Messages are interchangeable wake-ups, so the deficit is ``eligible jobs - ready
    messages``; that many stale jobs, the last in claim order, get a fresh message. Jobs
    submitted in the last ``grace_seconds`` are left alone (their on-commit message may be in
    flight).
    """
    grace = lease_seconds() if grace_seconds is None else grace_seconds
    now = timezone.now()
    cutoff = now - dt.timedelta(seconds=grace)
    stale = selectors.eligible_queued(queue, now=now).filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=cutoff))
    stale_count = stale.count()
    if not stale_count:
        return 0
    waiting = pending_messages(queue)
    if waiting is None:
        return 0
    fresh = selectors.eligible_queued(queue, now=now).filter(dispatched_at__gte=cutoff).count()
    deficit = stale_count - max(0, waiting - fresh)
    if deficit <= 0:
        return 0
    # A wake-up claims the best job whichever job it names; writing its dispatch time locks the
    # row for a moment, and a claim skips locked rows: the jobs claimed last take the fresh
    # messages, so that a claim running meanwhile is not turned away from the best one.
    sent = 0
    for job_id, priority in stale.order_by(*selectors.claim_order(last_first=True)).values_list("id", "priority")[:deficit]:
        if send_wakeup(job_id, queue, priority):
            sent += 1
    if sent:
        logger.warning("re-sent %d lost message(s) for queue %s", sent, queue)
    return sent
