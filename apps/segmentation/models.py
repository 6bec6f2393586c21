"""State owned by the segmentation context: the model registry and result versions.

Images, projects, users and jobs live in other contexts: they are referenced by plain
indexed UUIDs, never by ForeignKey. An image's segmentation *status* is not stored here
(nor anywhere): it is derived from its jobs (tasks context) and its latest result version.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from apps.segmentation.contracts import VersionSource


class SegmentationModel(models.Model):
    """One entry of the model registry, synced from ``ml.engine.list_models()``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    version = models.CharField(max_length=100)
    kind = models.CharField(max_length=50, blank=True, default="")
    sha256 = models.CharField("checksum (SHA-256)", max_length=64, blank=True, default="")
    parameters = models.BigIntegerField(null=True, blank=True, help_text="Number of trainable parameters.")
    description = models.TextField(blank=True, default="")
    metrics = models.JSONField("evaluation figures", default=dict, blank=True)
    defaults = models.JSONField("default run parameters", default=dict, blank=True)
    is_default = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True, help_text="Disabled models cannot be requested.")
    available = models.BooleanField(default=True, help_text="Present in the engine at the last sync.")
    created_at = models.DateTimeField(auto_now_add=True)
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_default", "name", "version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="segmentation_model_unique_version"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class ResultVersion(models.Model):
    """One version of an image's outlines. Never updated: edits and restores add versions."""

    SOURCE_CHOICES = [(s.value, s.value.title()) for s in VersionSource]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    image_id = models.UUIDField(db_index=True)
    project_id = models.UUIDField(db_index=True)
    version = models.PositiveIntegerField()
    source = models.CharField(max_length=10, choices=SOURCE_CHOICES)
    model_name = models.CharField(max_length=100, blank=True, default="")
    model_version = models.CharField(max_length=100, blank=True, default="")
    params = models.JSONField(default=dict, blank=True)
    polygons = models.JSONField(default=list, blank=True)
    object_count = models.PositiveIntegerField(default=0)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    pixel_size_um = models.FloatField(null=True, blank=True)
    author_id = models.UUIDField(null=True, blank=True, db_index=True)
    # One result per job: a redelivered or retried job can never write a second one.
    job_id = models.UUIDField(null=True, blank=True, unique=True)
    based_on = models.PositiveIntegerField(null=True, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["image_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["image_id", "version"], name="segmentation_result_unique_version"),
            models.CheckConstraint(condition=Q(version__gte=1), name="segmentation_result_version_positive"),
            models.CheckConstraint(
                condition=Q(source__in=[s.value for s in VersionSource]), name="segmentation_result_valid_source"
            ),
        ]
        indexes = [models.Index(fields=["project_id", "image_id", "-version"], name="segm_result_project_latest")]

    def __str__(self) -> str:
        return f"{self.image_id} v{self.version} ({self.source})"
