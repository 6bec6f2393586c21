"""DRF serializers of the segmentation context: input validation and output shapes."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from apps.segmentation.services import MAX_OBJECTS

PRIORITY_HELP = "low, normal, high, or 0-9 (higher runs first). Default normal."


class SegmentRequestSerializer(serializers.Serializer):
    model = serializers.CharField(required=False, allow_blank=True, max_length=100, help_text="Registry name; default model if omitted.")
    threshold = serializers.FloatField(required=False, allow_null=True, min_value=0.0, max_value=1.0,
                                       help_text="Probability threshold in (0, 1).")
    min_area_px = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=10**9)
    priority = serializers.JSONField(required=False, allow_null=True, help_text=PRIORITY_HELP)


class ProjectSegmentRequestSerializer(SegmentRequestSerializer):
    image_ids = serializers.ListField(child=serializers.UUIDField(), required=False, allow_empty=False, max_length=10_000,
                                      help_text="Images of this project to segment (all when omitted).")


class PolygonInputSerializer(serializers.Serializer):
    """Schema only: outlines are validated in depth by the service (bounds, sizes, area)."""

    exterior = serializers.ListField(child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2), min_length=3)
    holes = serializers.ListField(
        child=serializers.ListField(child=serializers.ListField(child=serializers.FloatField())), required=False
    )
    confidence = serializers.FloatField(required=False, allow_null=True)


class EditSerializer(serializers.Serializer):
    base_version = serializers.IntegerField(allow_null=True, min_value=1,
                                            help_text="The version you edited (null when the image has no result yet).")
    polygons = serializers.ListField(child=serializers.JSONField(), max_length=MAX_OBJECTS, allow_empty=True)


class PolygonSerializer(serializers.Serializer):
    exterior = serializers.ListField(child=serializers.ListField(child=serializers.FloatField()))
    holes = serializers.ListField(child=serializers.ListField(child=serializers.ListField(child=serializers.FloatField())))
    confidence = serializers.FloatField(allow_null=True)
    metrics = serializers.DictField()


class ModelRefSerializer(serializers.Serializer):
    name = serializers.CharField(source="model_name")
    version = serializers.CharField(source="model_version")


class ResultSerializer(serializers.Serializer):
    """Output: a ResultVersion contract."""

    id = serializers.UUIDField()
    image_id = serializers.UUIDField()
    project_id = serializers.UUIDField()
    version = serializers.IntegerField()
    source = serializers.CharField()
    model = ModelRefSerializer(source="*")
    params = serializers.DictField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    pixel_size_um = serializers.FloatField(allow_null=True)
    object_count = serializers.IntegerField()
    polygons = PolygonSerializer(many=True)
    author_id = serializers.UUIDField(allow_null=True)
    job_id = serializers.UUIDField(allow_null=True)
    based_on = serializers.IntegerField(allow_null=True)
    timings = serializers.DictField()
    created_at = serializers.DateTimeField()


class AuthorSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.CharField()
    name = serializers.CharField()


class VersionSerializer(serializers.Serializer):
    """Output: one entry of the history (a VersionSummary with its author)."""

    version = serializers.IntegerField()
    source = serializers.CharField()
    model = ModelRefSerializer(source="*")
    object_count = serializers.IntegerField()
    author = serializers.SerializerMethodField()
    job_id = serializers.UUIDField(allow_null=True)
    based_on = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_author(self, obj) -> dict | None:
        users = self.context.get("users", {})
        user = users.get(obj.author_id) if obj.author_id else None
        if user is None:
            return None if obj.author_id is None else {"id": str(obj.author_id), "email": "", "name": ""}
        return AuthorSerializer(user).data


class ModelSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()
    kind = serializers.CharField()
    sha256 = serializers.CharField(allow_null=True)
    parameters = serializers.IntegerField(allow_null=True)
    description = serializers.CharField()
    metrics = serializers.DictField()
    default = serializers.BooleanField()


@extend_schema_serializer(component_name="SegmentationJob")  # "Job" is the tasks API's component
class JobSerializer(serializers.Serializer):
    """Output: a tasks JobInfo (the shape the Job API answers too)."""

    id = serializers.UUIDField()
    kind = serializers.CharField()
    status = serializers.CharField()
    priority = serializers.IntegerField()
    owner_id = serializers.UUIDField(allow_null=True)
    project_id = serializers.UUIDField(allow_null=True)
    image_id = serializers.UUIDField(allow_null=True)
    params = serializers.DictField()
    progress = serializers.IntegerField()
    stage = serializers.CharField()
    attempts = serializers.IntegerField()
    max_attempts = serializers.IntegerField()
    error = serializers.CharField()
    queue_position = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    result_ref = serializers.CharField()
