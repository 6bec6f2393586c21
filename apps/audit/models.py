"""State owned by the audit context: one append-only, hash-chained table.

Rows are written only by :func:`apps.audit.services.append` (inside the publisher's
transaction, serialised by a lock so the chain stays linear) and never changed: ``save()`` on an
existing row, ``delete()``, ``QuerySet.update()`` and ``QuerySet.delete()`` raise
:class:`AppendOnlyError`, and database triggers (migration 0002) reject UPDATE and DELETE on
PostgreSQL and SQLite. Only ``archive_audit_log`` may delete, through the archive gate
(see README.md).
"""

from __future__ import annotations

import uuid

from django.db import models


class AppendOnlyError(Exception):
    """Audit records are never updated or deleted by the application."""


class Outcome(models.TextChoices):
    SUCCESS = "success", "success"
    DENIED = "denied", "denied"
    FAILED = "failed", "failed"


class AuditRecordQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("audit records cannot be updated")

    def delete(self):
        raise AppendOnlyError("audit records cannot be deleted (use manage.py archive_audit_log)")

    # bulk_update goes through update(); bulk_create would bypass the hash chain.
    def bulk_create(self, *args, **kwargs):
        raise AppendOnlyError("audit records are appended one at a time by apps.audit.services.append")

    def _archive_delete(self) -> int:
        """Raw delete used only by the archive service while the archive gate is open."""
        return super().delete()[0]


class AuditRecord(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    sequence = models.BigIntegerField(unique=True, editable=False)
    event_type = models.CharField(max_length=200, db_index=True)  # "images.project.created.v1"
    event_id = models.CharField(max_length=64, db_index=True)
    occurred_at = models.DateTimeField(db_index=True)
    recorded_at = models.DateTimeField()
    actor = models.CharField(max_length=64, db_index=True)  # user id, "anonymous" or "system"
    subject_type = models.CharField(max_length=64, blank=True)
    subject_id = models.CharField(max_length=64, blank=True)
    project_id = models.CharField(max_length=64, blank=True, db_index=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    client_ip = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=128, blank=True, db_index=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditRecordQuerySet.as_manager()

    class Meta:
        ordering = ["sequence"]
        indexes = [
            models.Index(fields=["subject_type", "subject_id"], name="audit_subject_idx"),
            models.Index(fields=["project_id", "sequence"], name="audit_project_seq_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.event_type} by {self.actor}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("audit records cannot be updated")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit records cannot be deleted (use manage.py archive_audit_log)")
