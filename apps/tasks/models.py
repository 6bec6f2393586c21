"""State owned by the tasks context: jobs (the single source of truth) and worker heartbeats."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.tasks.contracts import JobStatus, Priority

ACTIVE = [JobStatus.QUEUED.value, JobStatus.RUNNING.value]


class Job(models.Model):
    """One unit of background work. Every status write goes through ``services._transition``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=64, db_index=True)
    queue = models.CharField(max_length=64, default="jobs")
    # Subjects in other contexts: plain UUIDs, never foreign keys.
    owner_id = models.UUIDField(null=True, blank=True, db_index=True)
    project_id = models.UUIDField(null=True, blank=True, db_index=True)
    image_id = models.UUIDField(null=True, blank=True, db_index=True)
    params = models.JSONField(default=dict, blank=True)
    priority = models.SmallIntegerField(default=Priority.NORMAL)
    status = models.CharField(
        max_length=16, choices=[(s.value, s.value) for s in JobStatus], default=JobStatus.QUEUED.value
    )
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    progress = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=32, default="queued")
    error = models.TextField(blank=True, default="")
    result_ref = models.CharField(max_length=255, blank=True, default="")
    dedupe_key = models.CharField(max_length=255, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Place in line: set on submit and on replay (a retry keeps its place).
    queued_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Not claimable before this instant (exponential backoff between attempts).
    run_after = models.DateTimeField(null=True, blank=True)
    # Ownership of a running job: who holds it, until when, and a token unique per claim.
    worker_id = models.CharField(max_length=128, blank=True, default="")
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Outbox bookkeeping: when a wake-up message for this job was last handed to the broker.
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "queue", "-priority", "queued_at"], name="tasks_job_claim_idx"),
            models.Index(fields=["status", "lease_expires_at"], name="tasks_job_lease_idx"),
            models.Index(fields=["image_id", "kind", "-created_at"], name="tasks_job_image_idx"),
        ]
        constraints = [
            # Idempotent submission, race-safe: one active job per dedupe key.
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(status__in=ACTIVE) & Q(dedupe_key__isnull=False),
                name="tasks_job_active_dedupe_uniq",
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="tasks_job_progress_lte_100"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.status})"


class WorkerHeartbeat(models.Model):
    """A worker process says it is alive (written by its supervisor thread)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    worker_id = models.CharField(max_length=128, unique=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    broker = models.CharField(max_length=16)
    queues = models.JSONField(default=list)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)
    running_jobs = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.worker_id
