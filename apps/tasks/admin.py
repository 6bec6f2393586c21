"""Django admin of the tasks context: inspect jobs, cancel and replay them, see workers."""

from django.contrib import admin, messages

from apps.tasks import services
from apps.tasks.contracts import JobStateError
from apps.tasks.models import Job, WorkerHeartbeat


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "priority", "attempts", "max_attempts", "progress", "stage",
                    "created_at", "finished_at", "worker_id")
    list_filter = ("status", "kind", "queue", "priority")
    search_fields = ("id", "project_id", "image_id", "owner_id", "dedupe_key", "error")
    ordering = ("-created_at",)
    actions = ("cancel_jobs", "replay_jobs")
    readonly_fields = [f.name for f in Job._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # statuses change only through the transition function (actions below)

    def _each(self, request, queryset, action, verb):
        done, refused = 0, []
        for job in queryset:
            try:
                action(job_id=job.id, actor_id=request.user.id)
                done += 1
            except JobStateError as exc:
                refused.append(f"{job.id}: {exc}")
        self.message_user(request, f"{verb} {done} job(s).", messages.SUCCESS)
        for line in refused[:20]:
            self.message_user(request, line, messages.WARNING)

    @admin.action(description="Cancel selected jobs (queued or running)")
    def cancel_jobs(self, request, queryset):
        self._each(request, queryset, services.cancel_job, "Cancelled")

    @admin.action(description="Replay selected jobs (dead or failed)")
    def replay_jobs(self, request, queryset):
        self._each(request, queryset, services.replay_job, "Replayed")


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("worker_id", "hostname", "pid", "broker", "running_jobs", "started_at", "seen_at")
    readonly_fields = [f.name for f in WorkerHeartbeat._meta.fields]

    def has_add_permission(self, request):
        return False
