from django.apps import AppConfig


class SegmentationConfig(AppConfig):
    name = "apps.segmentation"
    label = "segmentation"
    default_auto_field = "django.db.models.BigAutoField"
