"""Django admin of the audit context: a read-only list with the API's filters.

No add, change or delete (and no bulk actions): records are append-only. Filter by event type,
outcome, subject type and date in the sidebar; search by exact actor, project, subject or
request id; any field lookup works in the URL too (``?actor=<id>&occurred_at__gte=2026-01-01``).
"""

from django.contrib import admin

from apps.audit.models import AuditRecord


@admin.register(AuditRecord)
class AuditRecordAdmin(admin.ModelAdmin):
    list_display = ("sequence", "occurred_at", "event_type", "actor", "subject_type", "subject_id", "project_id",
                    "outcome", "client_ip", "request_id")
    list_filter = ("outcome", "event_type", "subject_type", "occurred_at")
    search_fields = ("=actor", "=project_id", "=subject_id", "=request_id", "=event_id")
    date_hierarchy = "occurred_at"
    ordering = ("-sequence",)
    show_full_result_count = False
    list_per_page = 100
    readonly_fields = [f.name for f in AuditRecord._meta.fields]

    def get_actions(self, request):
        return {}

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def lookup_allowed(self, lookup, value, request=None):
        return lookup.split("__")[0] in {f.name for f in AuditRecord._meta.fields} or super().lookup_allowed(
            lookup, value, request
        )
