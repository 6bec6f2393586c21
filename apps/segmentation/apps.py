from django.apps import AppConfig


class SegmentationConfig(AppConfig):
    name = "apps.segmentation"
    label = "segmentation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # No database access here: the model registry is synced on first use.
        from apps.segmentation import receivers

        receivers.connect()
