"""Django admin of the images context: projects with members and counts, images with a preview.

Changes that need their side effects (files, events) go through the services: deleting a project
or an image here deletes the stored files and publishes the same events as the API.
"""

from __future__ import annotations

import base64

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import Count, Sum
from django.utils.html import format_html

from apps.accounts import api as accounts_api
from apps.images import services, storage
from apps.images.models import Image, Membership, Project
from apps.images.selectors import image_info


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("email", "user_id", "role", "created_at")
    readonly_fields = ("email", "created_at")
    can_delete = False  # removing members goes through the API (exactly one owner, events)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="e-mail")
    def email(self, obj):
        user = accounts_api.get_user(user_id=obj.user_id)
        return user.email if user else "(deleted account)"


class _ProjectChangeList(ChangeList):
    """Loads the owners' e-mail addresses of the page in one query (users live in accounts)."""

    def get_results(self, request):
        super().get_results(request)
        users = accounts_api.get_users(ids={p.owner_id for p in self.result_list})
        for project in self.result_list:
            user = users.get(project.owner_id)
            project.owner_email = user.email if user else "(deleted account)"


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "image_count", "member_count", "storage_mb", "created_at", "updated_at")
    search_fields = ("name", "description", "=id", "=owner_id")
    readonly_fields = ("id", "owner_id", "created_at", "updated_at")
    fields = ("id", "name", "description", "tags", "pixel_size_um", "owner_id", "created_at", "updated_at")
    inlines = [MembershipInline]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            _images=Count("images", distinct=True),
            _members=Count("memberships", distinct=True),
            _bytes=Sum("images__file_size"),
        )

    def get_changelist(self, request, **kwargs):
        return _ProjectChangeList

    @admin.display(description="owner")
    def owner(self, obj):
        return getattr(obj, "owner_email", obj.owner_id)

    @admin.display(ordering="_images", description="images")
    def image_count(self, obj):
        return obj._images

    @admin.display(ordering="_members", description="members")
    def member_count(self, obj):
        return obj._members

    @admin.display(ordering="_bytes", description="storage (MB)")
    def storage_mb(self, obj):
        return round((obj._bytes or 0) / 1e6, 1)

    def has_add_permission(self, request):
        return False  # projects are created by their owner (API or pages)

    def delete_model(self, request, obj):
        services._delete_project(obj.id, actor_id=request.user.id)

    def delete_queryset(self, request, queryset):
        for pid in list(queryset.values_list("id", flat=True)):
            services._delete_project(pid, actor_id=request.user.id)


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ("original_name", "project", "format", "width", "height", "bit_depth", "channels", "pages",
                    "pixel_size_um", "file_size", "created_at")
    list_filter = ("format", "bit_depth", "channels")
    list_select_related = ("project",)
    search_fields = ("original_name", "=sha256", "=id", "=project__id")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Image._meta.fields] + ["thumbnail_preview"]
    fields = ("thumbnail_preview", *[f.name for f in Image._meta.fields])

    @admin.display(description="thumbnail")
    def thumbnail_preview(self, obj):
        # Inline data URI: the media folder is never served, and the CSP allows img-src data:.
        if not obj.thumbnail_name:
            return "-"
        try:
            with storage.open_file(obj.thumbnail_name) as fh:
                data = base64.b64encode(fh.read()).decode()
        except Exception:
            return "(thumbnail missing)"
        return format_html('<img src="data:image/png;base64,{}" alt="" style="max-width:256px">', data)

    def has_add_permission(self, request):
        return False  # images come in through validated uploads and import_images

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        services._delete_images([image_info(obj)], actor_id=request.user.id)

    def delete_queryset(self, request, queryset):
        services._delete_images([image_info(i) for i in queryset], actor_id=request.user.id)
