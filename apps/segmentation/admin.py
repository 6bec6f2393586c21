"""Django admin of the segmentation context: the model registry and (read-only) result versions."""

from __future__ import annotations

from django.contrib import admin, messages

from apps.segmentation import services
from apps.segmentation.models import ResultVersion, SegmentationModel


@admin.register(SegmentationModel)
class SegmentationModelAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "kind", "is_default", "enabled", "available", "parameters", "short_sha", "synced_at")
    list_filter = ("kind", "enabled", "available", "is_default")
    search_fields = ("name", "version", "sha256")
    readonly_fields = ("name", "version", "kind", "sha256", "parameters", "description", "metrics", "defaults",
                       "is_default", "available", "created_at", "synced_at")
    fields = ("enabled", *readonly_fields)
    actions = ("enable", "disable", "sync_from_engine")

    @admin.display(description="SHA-256")
    def short_sha(self, obj):
        return (obj.sha256 or "")[:12]

    @admin.action(description="Enable the selected models")
    def enable(self, request, queryset):
        queryset.update(enabled=True)

    @admin.action(description="Disable the selected models (they can no longer be requested)")
    def disable(self, request, queryset):
        queryset.update(enabled=False)

    @admin.action(description="Sync the registry from the engine")
    def sync_from_engine(self, request, queryset):
        models = services.sync_models(force=True)
        self.message_user(request, f"{len(models)} usable model(s) after sync.", messages.SUCCESS)

    def has_add_permission(self, request):
        return False  # entries come from the engine

    def has_delete_permission(self, request, obj=None):
        return False  # results refer to them


@admin.register(ResultVersion)
class ResultVersionAdmin(admin.ModelAdmin):
    list_display = ("image_id", "version", "source", "model_name", "model_version", "object_count", "author_id",
                    "job_id", "created_at")
    list_filter = ("source", "model_name")
    search_fields = ("=image_id", "=project_id", "=job_id", "=author_id")
    ordering = ("-created_at",)
    date_hierarchy = "created_at"
    exclude = ("polygons",)
    list_select_related = False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "polygons"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # history is never rewritten

    def has_delete_permission(self, request, obj=None):
        return False
