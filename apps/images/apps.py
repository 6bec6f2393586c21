from django.apps import AppConfig


class ImagesConfig(AppConfig):
    name = "apps.images"
    label = "images"
    verbose_name = "Projects and images"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.common import events
        from apps.images import events as _own_events  # noqa: F401 (register the event classes)
        from apps.images.services import on_user_deleted

        # By name: the accounts context owns the event class.
        events.subscribe("accounts.user.deleted", on_user_deleted)
