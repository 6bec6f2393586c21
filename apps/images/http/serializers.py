"""DRF serializers: input validation and output shapes (read from the contracts)."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from apps.images.contracts import Role
from apps.images.services import MAX_TAG_LENGTH, MAX_TAGS


class ProjectInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, required=False, default="", max_length=10_000)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=MAX_TAG_LENGTH), required=False, default=list, max_length=MAX_TAGS
    )
    pixel_size_um = serializers.FloatField(required=False, allow_null=True, default=None, min_value=1e-6,
                                           max_value=10_000, help_text="Default µm per pixel (optional).")


class ProjectPatchSerializer(ProjectInputSerializer):
    def __init__(self, *args, **kwargs):
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)


class ProjectSerializer(serializers.Serializer):
    """Output: a ProjectSummary (project + the caller's role and counts)."""

    id = serializers.UUIDField(source="project.id")
    name = serializers.CharField(source="project.name")
    description = serializers.CharField(source="project.description")
    tags = serializers.ListField(source="project.tags", child=serializers.CharField())
    pixel_size_um = serializers.FloatField(source="project.pixel_size_um", allow_null=True)
    owner_id = serializers.UUIDField(source="project.owner_id")
    role = serializers.CharField()
    image_count = serializers.IntegerField()
    member_count = serializers.IntegerField()
    created_at = serializers.DateTimeField(source="project.created_at")
    updated_at = serializers.DateTimeField(source="project.updated_at")


class MemberSerializer(serializers.Serializer):
    user_id = serializers.UUIDField()
    email = serializers.EmailField()
    name = serializers.CharField()
    role = serializers.CharField()
    added_at = serializers.DateTimeField()


class MemberInviteSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=[Role.EDITOR.value, Role.VIEWER.value], default=Role.VIEWER.value)


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(
        choices=[r.value for r in Role], help_text="'owner' transfers ownership to this member."
    )


class TransferSerializer(serializers.Serializer):
    user_id = serializers.UUIDField(help_text="The member who becomes the owner.")


class ImageSerializer(serializers.Serializer):
    """Output: an ImageInfo, plus links and (list/detail) the segmentation state."""

    id = serializers.UUIDField()
    project_id = serializers.UUIDField()
    original_name = serializers.CharField()
    format = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    bit_depth = serializers.IntegerField()
    channels = serializers.IntegerField()
    pages = serializers.IntegerField()
    pixel_size_um = serializers.FloatField(allow_null=True)
    pixel_size_source = serializers.CharField()
    file_size = serializers.IntegerField()
    sha256 = serializers.CharField()
    uploaded_by = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    file_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()

    def get_file_url(self, obj) -> str:
        return reverse("v1:image-file", args=[obj.id])

    def get_thumbnail_url(self, obj) -> str:
        return reverse("v1:image-thumbnail", args=[obj.id])


class ImageListItemSerializer(serializers.Serializer):
    """Output: an ImageListItem flattened (image fields + status, progress, stage, object_count)."""

    image = ImageSerializer()
    status = serializers.CharField()
    progress = serializers.IntegerField()
    stage = serializers.CharField()
    object_count = serializers.IntegerField(allow_null=True)
    job_id = serializers.UUIDField(allow_null=True)
    error = serializers.CharField()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        return {**data.pop("image"), **data}


class UploadResultSerializer(serializers.Serializer):
    filename = serializers.CharField()
    outcome = serializers.CharField()
    status = serializers.IntegerField(source="status_code")
    code = serializers.CharField()
    detail = serializers.CharField()
    existing_image_id = serializers.UUIDField(allow_null=True)
    image = ImageSerializer(allow_null=True)


class UploadResponseSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = UploadResultSerializer(many=True)


class ImageListQuerySerializer(serializers.Serializer):
    status = serializers.CharField(required=False, allow_blank=True, default="")
    search = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    ordering = serializers.CharField(required=False, default="-created_at")
    page = serializers.IntegerField(required=False, default=1, min_value=1)
    page_size = serializers.IntegerField(required=False, default=50, min_value=1, max_value=500)

    def __init__(self, *args, statuses=(), orderings=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.statuses = list(statuses)
        self.orderings = list(orderings)

    def validate_status(self, value):
        if value and value not in self.statuses:
            raise serializers.ValidationError(f"Unknown status; use one of: {', '.join(self.statuses)}.")
        return value

    def validate_ordering(self, value):
        if value not in self.orderings:
            raise serializers.ValidationError(f"Unknown ordering; use one of: {', '.join(self.orderings)}.")
        return value


# --------------------------------------------------------------------------- fast rendering
# The list endpoint renders up to 500 rows per request: plain functions produce exactly the
# shapes of ImageSerializer / ImageListItemSerializer (which stay for validation of the
# schema) about ten times faster than DRF fields.

_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


def _url_template(name: str) -> str:
    return reverse(name, args=[_PLACEHOLDER]).replace(_PLACEHOLDER, "{}")


def _dt(value) -> str | None:
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def image_data(info, *, file_url: str | None = None, thumb_url: str | None = None) -> dict:
    file_url = file_url or _url_template("v1:image-file")
    thumb_url = thumb_url or _url_template("v1:image-thumbnail")
    iid = str(info.id)
    return {
        "id": iid,
        "project_id": str(info.project_id),
        "original_name": info.original_name,
        "format": info.format,
        "width": info.width,
        "height": info.height,
        "bit_depth": info.bit_depth,
        "channels": info.channels,
        "pages": info.pages,
        "pixel_size_um": info.pixel_size_um,
        "pixel_size_source": info.pixel_size_source,
        "file_size": info.file_size,
        "sha256": info.sha256,
        "uploaded_by": str(info.uploaded_by),
        "created_at": _dt(info.created_at),
        "file_url": file_url.format(iid),
        "thumbnail_url": thumb_url.format(iid),
    }


def list_items_data(items) -> list[dict]:
    file_url, thumb_url = _url_template("v1:image-file"), _url_template("v1:image-thumbnail")
    out = []
    for item in items:
        data = image_data(item.image, file_url=file_url, thumb_url=thumb_url)
        data.update(
            status=item.status,
            progress=item.progress,
            stage=item.stage,
            object_count=item.object_count,
            job_id=str(item.job_id) if item.job_id else None,
            error=item.error,
        )
        out.append(data)
    return out
