"""REST views of the segmentation context: parse, call the api (which checks permission), render.

Non-members get 404 for an image or project and everything in it; viewers may read results
(403 for segment and edit); editors and owners segment and edit.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import api as accounts_api
from apps.images import api as images_api
from apps.images.contracts import AccessDenied, Action, ImageNotFound, ProjectNotFound
from apps.segmentation import api
from apps.segmentation.contracts import SegmentationError, StaleVersion
from apps.segmentation.http import serializers as s

NOT_FOUND = "Not found."


class SegmentationAPIView(APIView):
    """Translates the api's exceptions into the project's JSON errors."""

    def handle_exception(self, exc):
        if isinstance(exc, ProjectNotFound | ImageNotFound):
            exc = exceptions.NotFound(NOT_FOUND)
        elif isinstance(exc, AccessDenied):
            exc = exceptions.PermissionDenied(str(exc) or None)
        elif isinstance(exc, SegmentationError):
            return self._error_response(exc)
        return super().handle_exception(exc)

    def _error_response(self, exc: SegmentationError) -> Response:
        body = {"detail": exc.detail, "code": exc.code}
        if exc.errors:
            body["errors"] = exc.errors
        if isinstance(exc, StaleVersion):
            body["latest_version"] = exc.latest_version
            body["base_version"] = exc.base_version
        return Response(body, status=exc.status_code)

    @property
    def actor_id(self):
        return self.request.user.id


def _valid(serializer_class, data) -> dict:
    ser = serializer_class(data=data)
    ser.is_valid(raise_exception=True)
    return dict(ser.validated_data)


def _options(data: dict) -> dict:
    return {
        "model": data.get("model") or None,
        "threshold": data.get("threshold"),
        "priority": data.get("priority"),
        "min_area_px": data.get("min_area_px"),
    }


def _version_param(request) -> int | None:
    raw = request.query_params.get("version")
    if raw in (None, ""):
        return None
    try:
        version = int(raw)
    except ValueError:
        version = 0
    if version < 1:
        raise exceptions.ValidationError({"version": ["A positive integer."]})
    return version


class ModelListView(SegmentationAPIView):
    @extend_schema(summary="Available segmentation models with their evaluation figures",
                   responses=inline_serializer("ModelList", {"count": serializers.IntegerField(),
                                                             "results": s.ModelSerializer(many=True)}))
    def get(self, request):
        models = api.list_models()
        return Response({"count": len(models), "results": s.ModelSerializer(models, many=True).data})


class ImageSegmentView(SegmentationAPIView):
    @extend_schema(summary="Start segmentation of one image (202), or get the same queued/running job (200)",
                   request=s.SegmentRequestSerializer, responses={202: s.JobSerializer, 200: s.JobSerializer})
    def post(self, request, image_id):
        # Permission first: a non-member learns nothing from a validation error.
        images_api.check_image_access(user_id=self.actor_id, image_id=image_id, action=Action.EDIT)
        data = _valid(s.SegmentRequestSerializer, request.data)
        [(job, created)] = api.request_segmentation(user_id=self.actor_id, image_ids=[image_id], **_options(data))
        return Response(s.JobSerializer(job).data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


class ProjectSegmentView(SegmentationAPIView):
    @extend_schema(
        summary="Segment all (or the listed) images of a project",
        request=s.ProjectSegmentRequestSerializer,
        responses={202: inline_serializer("ProjectSegmentResponse", {
            "jobs": s.JobSerializer(many=True), "created": serializers.IntegerField(),
            "existing": serializers.IntegerField()})},
    )
    def post(self, request, project_id):
        images_api.check_access(user_id=self.actor_id, project_id=project_id, action=Action.EDIT)
        data = _valid(s.ProjectSegmentRequestSerializer, request.data)
        pairs = api.request_project_segmentation(
            user_id=self.actor_id, project_id=project_id, image_ids=data.get("image_ids"), **_options(data)
        )
        created = sum(1 for _, c in pairs if c)
        body = {"jobs": s.JobSerializer([j for j, _ in pairs], many=True).data, "created": created,
                "existing": len(pairs) - created}
        return Response(body, status=status.HTTP_202_ACCEPTED if created or not pairs else status.HTTP_200_OK)


class SegmentationView(SegmentationAPIView):
    @extend_schema(summary="The latest result (or ?version=N) with polygons and metrics",
                   parameters=[OpenApiParameter("version", int, description="A version number (default: latest)")],
                   responses=s.ResultSerializer)
    def get(self, request, image_id):
        image, _ = images_api.check_image_access(user_id=self.actor_id, image_id=image_id, action=Action.VIEW)
        version = _version_param(request)
        result = api.get_result_version(image_id=image.id, version=version)
        if result is None:
            detail = "This image has no segmentation yet." if version is None else f"Version {version} does not exist."
            raise exceptions.NotFound(detail)
        return Response(s.ResultSerializer(result).data)

    @extend_schema(summary="Save edited polygons as a new version (metrics recomputed; 409 on a stale base)",
                   request=s.EditSerializer, responses={200: s.ResultSerializer})
    def put(self, request, image_id):
        images_api.check_image_access(user_id=self.actor_id, image_id=image_id, action=Action.EDIT)
        data = _valid(s.EditSerializer, request.data)
        result = api.save_edit(user_id=self.actor_id, image_id=image_id, base_version=data["base_version"],
                               polygons=data["polygons"])
        return Response(s.ResultSerializer(result).data, status=status.HTTP_200_OK)


class VersionListView(SegmentationAPIView):
    @extend_schema(summary="The edit history, newest first, with author and time",
                   responses=inline_serializer("VersionList", {"count": serializers.IntegerField(),
                                                               "results": s.VersionSerializer(many=True)}))
    def get(self, request, image_id):
        image, _ = images_api.check_image_access(user_id=self.actor_id, image_id=image_id, action=Action.VIEW)
        versions = api.list_versions(image_id=image.id)
        users = accounts_api.get_users(ids={v.author_id for v in versions if v.author_id})
        data = s.VersionSerializer(versions, many=True, context={"users": users}).data
        return Response({"count": len(versions), "results": data})


class RestoreView(SegmentationAPIView):
    @extend_schema(summary="Restore a version as a new latest version", request=None,
                   responses={201: s.ResultSerializer})
    def post(self, request, image_id, version):
        result = api.restore_version(user_id=self.actor_id, image_id=image_id, version=version)
        return Response(s.ResultSerializer(result).data, status=status.HTTP_201_CREATED)
