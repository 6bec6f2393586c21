"""Reads of the tasks context: job snapshots (with queue positions) and statistics."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from django.db.models import (
    Avg,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.utils import timezone

from apps.tasks.contracts import JobInfo, JobStats, JobStatus
from apps.tasks.models import ACTIVE, Job

TERMINAL = [JobStatus.SUCCEEDED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value, JobStatus.DEAD.value]


def claim_order(*, last_first: bool = False) -> list:
    """The order in which queued jobs are claimed (and queue positions computed); with
    ``last_first``, the reverse: the jobs claimed last first."""
    if last_first:
        return [F("priority").asc(), F("queued_at").desc(), F("id").desc()]
    return [F("priority").desc(), F("queued_at").asc(), F("id").asc()]


def _claimed_before(priority, queued_at, job_id) -> Q:
    """Jobs that ``claim_order`` puts before a job with these values (or outer references)."""
    return (
        Q(priority__gt=priority)
        | Q(priority=priority, queued_at__lt=queued_at)
        | Q(priority=priority, queued_at=queued_at, id__lt=job_id)
    )


def _ahead_subquery() -> Subquery:
    """Number of queued jobs of the same queue that will be claimed before the outer job."""
    ahead = (
        Job.objects.filter(status=JobStatus.QUEUED.value, queue=OuterRef("queue"))
        .filter(_claimed_before(OuterRef("priority"), OuterRef("queued_at"), OuterRef("id")))
        .order_by()
        .annotate(n=Func(F("id"), function="COUNT"))
        .values("n")
    )
    return Subquery(ahead, output_field=IntegerField())


def with_positions(qs: QuerySet[Job]) -> QuerySet[Job]:
    """Annotate ``ahead`` (one correlated subquery, so a batch costs one query)."""
    return qs.annotate(ahead=_ahead_subquery())


def new_job_standing(job: Job) -> tuple[int, bool]:
    """For a just-queued job: how many queued jobs of its queue are claimed before it, and
    whether it overtakes any (a lower-priority job is queued). One query."""
    queued = Job.objects.filter(queue=job.queue, status=JobStatus.QUEUED.value)
    counts = queued.aggregate(
        ahead=Count("id", filter=_claimed_before(job.priority, job.queued_at, job.id)),
        behind=Count("id", filter=Q(priority__lt=job.priority)),
    )
    return counts["ahead"], counts["behind"] > 0


def to_info(job: Job) -> JobInfo:
    position = None
    if job.status == JobStatus.QUEUED.value:
        ahead = getattr(job, "ahead", None)
        if ahead is None:
            ahead = with_positions(Job.objects.filter(id=job.id)).values_list("ahead", flat=True).first() or 0
        position = int(ahead or 0) + 1
    return JobInfo(
        id=job.id,
        kind=job.kind,
        status=JobStatus(job.status),
        priority=job.priority,
        owner_id=job.owner_id,
        project_id=job.project_id,
        image_id=job.image_id,
        params=dict(job.params or {}),
        progress=job.progress,
        stage=job.stage,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        error=job.error,
        queue_position=position,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        result_ref=job.result_ref,
    )


def get_job(job_id: uuid.UUID | str) -> JobInfo | None:
    job = with_positions(Job.objects.filter(id=job_id)).first()
    return to_info(job) if job else None


def get_jobs(ids: Iterable[uuid.UUID | str]) -> dict[uuid.UUID, JobInfo]:
    ids = list(ids)
    if not ids:
        return {}
    return {job.id: to_info(job) for job in with_positions(Job.objects.filter(id__in=ids))}


def latest_jobs_for_images(image_ids: Iterable[uuid.UUID | str], kind: str | None = None) -> dict[uuid.UUID, JobInfo]:
    """The newest job per image (optionally of one kind): one query whatever the count."""
    image_ids = list(image_ids)
    if not image_ids:
        return {}
    return _latest_per_image(Job.objects.filter(image_id__in=image_ids), kind)


def latest_jobs_for_project(project_id: uuid.UUID | str, kind: str | None = None) -> dict[uuid.UUID, JobInfo]:
    """The newest job of each image of a project: one query, no per-image parameters."""
    return _latest_per_image(Job.objects.filter(project_id=project_id, image_id__isnull=False), kind)


def _latest_per_image(base: QuerySet[Job], kind: str | None) -> dict[uuid.UUID, JobInfo]:
    if kind is not None:
        base = base.filter(kind=kind)
    newest = Job.objects.filter(image_id=OuterRef("image_id"))
    if kind is not None:
        newest = newest.filter(kind=kind)
    newest = newest.order_by("-created_at", "-id").values("id")[:1]
    latest_ids = base.order_by().values("image_id").distinct().annotate(latest=Subquery(newest)).values("latest")
    jobs = with_positions(Job.objects.filter(id__in=latest_ids))  # one query: the ids stay a subquery
    return {job.image_id: to_info(job) for job in jobs}


def active_jobs_for_project(project_id: uuid.UUID | str) -> list[JobInfo]:
    qs = with_positions(Job.objects.filter(project_id=project_id, status__in=ACTIVE)).order_by(*claim_order())
    return [to_info(job) for job in qs]


def list_jobs(
    *,
    project_ids: Iterable[uuid.UUID] | None,
    status: str | None = None,
    kind: str | None = None,
    project_id: uuid.UUID | None = None,
    image_id: uuid.UUID | None = None,
) -> QuerySet[Job]:
    """Jobs visible within ``project_ids`` (None: all), newest first, with queue positions."""
    qs = Job.objects.all()
    if project_ids is not None:
        qs = qs.filter(project_id__in=list(project_ids))
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if project_id:
        qs = qs.filter(project_id=project_id)
    if image_id:
        qs = qs.filter(image_id=image_id)
    return with_positions(qs.order_by("-created_at", "-id"))


def stats(*, project_ids: Iterable[uuid.UUID] | None) -> JobStats:
    qs = Job.objects.all()
    if project_ids is not None:
        qs = qs.filter(project_id__in=list(project_ids))
    by_status = {s.value: 0 for s in JobStatus}
    by_priority: dict[str, dict[str, int]] = {}
    for row in qs.order_by().values("status", "priority").annotate(n=Count("id")):
        by_status[row["status"]] += row["n"]
        by_priority.setdefault(str(row["priority"]), {})[row["status"]] = row["n"]
    wait = ExpressionWrapper(F("started_at") - F("created_at"), output_field=DurationField())
    run = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    agg = qs.aggregate(
        wait=Avg(wait, filter=Q(started_at__isnull=False)),
        run=Avg(run, filter=Q(started_at__isnull=False, finished_at__isnull=False)),
    )
    finished = sum(by_status[s] for s in TERMINAL)
    return JobStats(
        by_status=by_status,
        by_priority=by_priority,
        mean_wait_seconds=_seconds(agg["wait"]),
        mean_run_seconds=_seconds(agg["run"]),
        completion_rate=(by_status[JobStatus.SUCCEEDED.value] / finished) if finished else None,
        total=sum(by_status.values()),
    )


def _seconds(value: dt.timedelta | float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        return round(value.total_seconds(), 3)
    return round(float(value) / 1e6, 3)  # some backends average durations as microseconds


def eligible_queued(queue: str, *, now: dt.datetime | None = None) -> QuerySet[Job]:
    now = now or timezone.now()
    return Job.objects.filter(status=JobStatus.QUEUED.value, queue=queue).filter(
        Q(run_after__isnull=True) | Q(run_after__lte=now)
    )


def queue_depths() -> list[dict]:
    """Queued (waiting) and running jobs per queue and priority."""
    rows = (
        Job.objects.filter(status__in=ACTIVE)
        .order_by()
        .values("queue", "priority", "status")
        .annotate(n=Count("id"))
    )
    out: dict[tuple[str, int], dict] = {}
    for row in rows:
        entry = out.setdefault(
            (row["queue"], row["priority"]), {"queue": row["queue"], "priority": row["priority"], "queued": 0, "running": 0}
        )
        entry[row["status"]] = row["n"]
    return sorted(out.values(), key=lambda e: (e["queue"], -e["priority"]))


POSITIONS_LIMIT = 500


def queued_positions(queue: str, limit: int = POSITIONS_LIMIT) -> dict[uuid.UUID, dict[str, int]]:
    """``{project_id: {job_id: position}}`` for the first ``limit`` queued jobs of ``queue``
    (one indexed scan; jobs further back keep their last known position)."""
    out: dict[uuid.UUID, dict[str, int]] = {}
    rows = (
        Job.objects.filter(status=JobStatus.QUEUED.value, queue=queue)
        .order_by(*claim_order())
        .values_list("id", "project_id")[:limit]
    )
    for position, (job_id, project_id) in enumerate(rows, start=1):
        if project_id is not None:
            out.setdefault(project_id, {})[str(job_id)] = position
    return out
