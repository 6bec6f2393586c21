from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "apps.tasks"
    label = "tasks"
    verbose_name = "Background jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.common import events, health
        from apps.common.workers import register_shutdown_hook, register_startup_hook
        from apps.tasks import health as tasks_health
        from apps.tasks import metrics, services, supervisor

        # Subscribed by name: the tasks context does not import the images context's events.
        events.subscribe("images.project.deleted", services.on_project_deleted)
        # Every worker process (embedded or rundramatiq) supervises leases and lost messages.
        register_startup_hook(supervisor.start)
        register_shutdown_hook(supervisor.stop)
        health.register_detail("workers", tasks_health.workers)
        health.register_detail("queues", tasks_health.queues)
        metrics.register()
        from django.conf import settings

        if settings.SPHEROSEG_TEST_HANDLERS:
            from apps.tasks import testing  # noqa: F401  (registers test-only job kinds)
