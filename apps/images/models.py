"""State owned by the images context: projects, memberships, images.

Users live in the accounts context, so they are referenced by plain indexed UUIDs
(``owner_id``, ``user_id``, ``uploaded_by``), never by ForeignKey.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from apps.images.contracts import Role


class Project(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    tags = models.JSONField(default=list, blank=True)
    pixel_size_um = models.FloatField(null=True, blank=True, help_text="Default µm per pixel (optional).")
    # Denormalised from the owner membership (kept equal by services.transfer_ownership).
    owner_id = models.UUIDField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """Who may do what in a project. The owner has a membership too (role ``owner``)."""

    ROLE_CHOICES = [(r.value, r.value.title()) for r in Role]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user_id = models.UUIDField(db_index=True)
    role = models.CharField(max_length=10, choices=ROLE_CHOICES)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user_id"], name="images_membership_unique_user"),
            # At most one owner per project (services guarantee at least one).
            models.UniqueConstraint(
                fields=["project"], condition=Q(role="owner"), name="images_membership_one_owner"
            ),
            models.CheckConstraint(
                condition=Q(role__in=[r.value for r in Role]), name="images_membership_valid_role"
            ),
        ]
        indexes = [models.Index(fields=["user_id", "project"], name="images_memb_user_project")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.role} of {self.project_id}"


class Image(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="images")
    original_name = models.CharField(max_length=255, help_text="Sanitised for display; never used as a path.")
    storage_name = models.CharField(max_length=255, unique=True)
    thumbnail_name = models.CharField(max_length=255, blank=True, default="")
    format = models.CharField(max_length=8)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    bit_depth = models.PositiveSmallIntegerField()
    channels = models.PositiveSmallIntegerField()
    pages = models.PositiveIntegerField(default=1)
    pixel_size_um = models.FloatField(null=True, blank=True)
    pixel_size_source = models.CharField(max_length=8, blank=True, default="")
    file_size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.UUIDField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "sha256"], name="images_image_unique_content"),
        ]
        indexes = [
            models.Index(fields=["project", "-created_at", "-id"], name="images_img_proj_created"),
            models.Index(fields=["project", "original_name"], name="images_img_proj_name"),
        ]

    def __str__(self) -> str:
        return self.original_name
