"""REST views of the images context: parse, check permission (in the api), call the api, render.

Non-members get 404 for a project and everything in it; members whose role is too small get 403.
"""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from apps.common.openapi import ErrorSerializer
from apps.images import api
from apps.images.contracts import AccessDenied, Action, ImageNotFound, ImagesError, ProjectNotFound
from apps.images.http import serializers as s
from apps.images.http.parsers import SizeLimitUploadHandler, UploadParser, split_name

NOT_FOUND = "Not found."


class ImagesAPIView(APIView):
    """Translates the api's exceptions into the project's JSON errors."""

    def handle_exception(self, exc):
        if isinstance(exc, ProjectNotFound | ImageNotFound):
            exc = exceptions.NotFound(NOT_FOUND)
        elif isinstance(exc, AccessDenied):
            exc = exceptions.PermissionDenied(str(exc) or None)
        elif isinstance(exc, ImagesError):
            err = exceptions.APIException(exc.detail, code=exc.code)
            err.status_code = exc.status_code
            exc = err
        return super().handle_exception(exc)

    @property
    def actor_id(self):
        return self.request.user.id


class ProjectPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


# --------------------------------------------------------------------------- projects


class ProjectListView(ImagesAPIView):
    pagination_class = ProjectPagination  # documents the paginated answer in the schema

    @extend_schema(
        summary="My projects (owned or shared)",
        parameters=[OpenApiParameter("search", str, description="Substring of the project name")],
        responses=s.ProjectSerializer(many=True),
    )
    def get(self, request):
        summaries = api.list_projects_for_user(user_id=self.actor_id, search=request.query_params.get("search", ""))
        paginator = ProjectPagination()
        page = paginator.paginate_queryset(summaries, request, view=self)
        return paginator.get_paginated_response(s.ProjectSerializer(page, many=True).data)

    @extend_schema(summary="Create a project (you become its owner)", request=s.ProjectInputSerializer,
                   responses={201: s.ProjectSerializer})
    def post(self, request):
        data = _valid(s.ProjectInputSerializer, request.data)
        project = api.create_project(actor_id=self.actor_id, **data)
        summary = api.get_project_summary(user_id=self.actor_id, project_id=project.id)
        return Response(s.ProjectSerializer(summary).data, status=status.HTTP_201_CREATED)


class ProjectDetailView(ImagesAPIView):
    @extend_schema(summary="One project", responses=s.ProjectSerializer)
    def get(self, request, project_id):
        api.check_access(user_id=self.actor_id, project_id=project_id, action=Action.VIEW)
        return Response(s.ProjectSerializer(api.get_project_summary(user_id=self.actor_id, project_id=project_id)).data)

    @extend_schema(summary="Change a project (owner)", request=s.ProjectPatchSerializer, responses=s.ProjectSerializer)
    def patch(self, request, project_id):
        api.check_access(user_id=self.actor_id, project_id=project_id, action=Action.MANAGE)
        data = _valid(s.ProjectPatchSerializer, request.data)
        api.update_project(actor_id=self.actor_id, project_id=project_id, **data)
        return Response(s.ProjectSerializer(api.get_project_summary(user_id=self.actor_id, project_id=project_id)).data)

    @extend_schema(summary="Delete a project with its images and files (owner)", responses={204: None})
    def delete(self, request, project_id):
        api.delete_project(actor_id=self.actor_id, project_id=project_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --------------------------------------------------------------------------- members


class MemberListView(ImagesAPIView):
    @extend_schema(summary="Members of a project", responses=s.MemberSerializer(many=True))
    def get(self, request, project_id):
        api.check_access(user_id=self.actor_id, project_id=project_id, action=Action.VIEW)
        return Response(s.MemberSerializer(api.list_members(project_id=project_id), many=True).data)

    @extend_schema(summary="Invite an existing user by e-mail (owner)", request=s.MemberInviteSerializer,
                   responses={201: s.MemberSerializer})
    def post(self, request, project_id):
        api.check_access(user_id=self.actor_id, project_id=project_id, action=Action.MANAGE)
        data = _valid(s.MemberInviteSerializer, request.data)
        member = api.add_member(actor_id=self.actor_id, project_id=project_id, **data)
        return Response(s.MemberSerializer(member).data, status=status.HTTP_201_CREATED)


class MemberDetailView(ImagesAPIView):
    @extend_schema(summary="Change a member's role (owner); 'owner' transfers ownership",
                   request=s.MemberRoleSerializer, responses=s.MemberSerializer)
    def patch(self, request, project_id, user_id):
        api.check_access(user_id=self.actor_id, project_id=project_id, action=Action.MANAGE)
        data = _valid(s.MemberRoleSerializer, request.data)
        member = api.change_member_role(actor_id=self.actor_id, project_id=project_id, user_id=user_id, **data)
        return Response(s.MemberSerializer(member).data)

    @extend_schema(summary="Remove a member (owner), or leave (your own id)", responses={204: None})
    def delete(self, request, project_id, user_id):
        api.remove_member(actor_id=self.actor_id, project_id=project_id, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LeaveView(ImagesAPIView):
    @extend_schema(summary="Leave a project (not the owner)", request=None, responses={204: None})
    def post(self, request, project_id):
        api.leave_project(actor_id=self.actor_id, project_id=project_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TransferOwnershipView(ImagesAPIView):
    @extend_schema(summary="Transfer ownership to a member (owner); you stay as editor",
                   request=s.TransferSerializer, responses=s.MemberSerializer)
    def post(self, request, project_id):
        api.check_access(user_id=self.actor_id, project_id=project_id, action=Action.MANAGE)
        data = _valid(s.TransferSerializer, request.data)
        member = api.transfer_ownership(actor_id=self.actor_id, project_id=project_id, new_owner_id=data["user_id"])
        return Response(s.MemberSerializer(member).data)


# --------------------------------------------------------------------------- images


class ProjectImagesView(ImagesAPIView):
    parser_classes = [UploadParser, JSONParser]

    @extend_schema(
        summary="Images of a project (paginated)",
        parameters=[
            OpenApiParameter("status", str, description="Segmentation status: new, queued, running, done, failed"),
            OpenApiParameter("search", str, description="Substring of the original file name"),
            OpenApiParameter("ordering", str, description="created_at, name, file_size, width, height; '-' = desc"),
            OpenApiParameter("page", int),
            OpenApiParameter("page_size", int, description="1-500, default 50"),
        ],
        responses=inline_serializer(
            "ImagePage",
            {"count": serializers.IntegerField(), "next": serializers.URLField(allow_null=True),
             "previous": serializers.URLField(allow_null=True), "page": serializers.IntegerField(),
             "page_size": serializers.IntegerField(), "results": s.ImageListItemSerializer(many=True)},
        ),
    )
    def get(self, request, project_id):
        access = api.check_access(user_id=self.actor_id, project_id=project_id, action=Action.VIEW)
        query = _valid(s.ImageListQuerySerializer, request.query_params,
                       statuses=api.image_statuses(), orderings=api.image_orderings())
        result = api.list_images(project_id=access.project_id, status=query["status"] or None,
                                 search=query["search"], ordering=query["ordering"], page=query["page"],
                                 page_size=query["page_size"])
        url = request.build_absolute_uri()
        nxt = replace_query_param(url, "page", result.page + 1) if result.page < result.pages else None
        prev = None
        if result.page > 1:
            prev = (replace_query_param(url, "page", result.page - 1) if result.page > 2
                    else remove_query_param(url, "page"))
        return Response({
            "count": result.total, "next": nxt, "previous": prev, "page": result.page,
            "page_size": result.page_size, "results": s.list_items_data(result.items),
        })

    @extend_schema(
        summary="Upload images (multipart field 'files', many); one result per file",
        request={"multipart/form-data": inline_serializer(
            "ImageUpload", {"files": serializers.ListField(child=serializers.FileField())})},
        responses={201: s.UploadResponseSerializer, 207: s.UploadResponseSerializer,
                   400: ErrorSerializer},  # all rejected: Error plus accepted/rejected/results
    )
    def post(self, request, project_id):
        # Refuse before reading the body: non-members get 404, viewers 403.
        api.check_access(user_id=self.actor_id, project_id=project_id, action=Action.EDIT)
        budget = max(0, settings.USER_STORAGE_QUOTA_BYTES - api.storage_used(user_id=self.actor_id))
        request._request.upload_handlers.insert(0, SizeLimitUploadHandler(request._request, budget=budget))
        uploads = request.FILES.getlist("files")
        inputs = []
        for f in uploads:
            name, unsafe = split_name(f.name or "")
            inputs.append(api.UploadInput(name=name, file=f, size=f.size, unsafe_name=unsafe,
                                          over_quota=getattr(f, "over_quota", False)))
        try:
            results = api.upload_images(actor_id=self.actor_id, project_id=project_id, files=inputs)
        finally:
            for f in uploads:
                f.close()
        accepted = sum(1 for r in results if r.accepted)
        body = {"accepted": accepted, "rejected": len(results) - accepted,
                "results": s.UploadResultSerializer(results, many=True).data}
        if accepted == len(results):
            return Response(body, status=status.HTTP_201_CREATED)
        if accepted:
            return Response(body, status=status.HTTP_207_MULTI_STATUS)
        codes = {r.status_code for r in results}
        first = results[0]
        detail = first.detail if len(results) == 1 else f"None of the {len(results)} files was accepted."
        return Response({"detail": detail, "code": first.code if len(results) == 1 else "rejected", **body},
                        status=codes.pop() if len(codes) == 1 else status.HTTP_400_BAD_REQUEST)


class ImageDetailView(ImagesAPIView):
    @extend_schema(summary="One image with its segmentation state", responses=s.ImageListItemSerializer)
    def get(self, request, image_id):
        info, _ = api.check_image_access(user_id=self.actor_id, image_id=image_id, action=Action.VIEW)
        return Response(s.list_items_data([api.get_image_list_item(image=info)])[0])

    @extend_schema(summary="Delete an image and its files (editor)", responses={204: None})
    def delete(self, request, image_id):
        api.delete_image(actor_id=self.actor_id, image_id=image_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PassthroughRenderer(BaseRenderer):
    """Lets file views answer any Accept header (errors still render as JSON)."""

    media_type = "*/*"
    format = "file"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return JSONRenderer().render(data, "application/json", renderer_context)


def _file_response(fh, *, filename: str, content_type: str, as_attachment: bool, cache: str) -> FileResponse:
    response = FileResponse(fh, as_attachment=as_attachment, filename=filename, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = cache
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


class ImageFileView(ImagesAPIView):
    renderer_classes = [JSONRenderer, PassthroughRenderer]

    @extend_schema(summary="Download the original file (streamed)", responses={(200, "*/*"): OpenApiTypes.BINARY})
    def get(self, request, image_id):
        info, _ = api.check_image_access(user_id=self.actor_id, image_id=image_id, action=Action.VIEW)
        return _file_response(api.open_image(image_id=info.id), filename=info.original_name,
                              content_type=info.content_type, as_attachment=True, cache="private, no-cache")


class ImageThumbnailView(ImagesAPIView):
    renderer_classes = [JSONRenderer, PassthroughRenderer]

    @extend_schema(summary="The PNG thumbnail (contrast-stretched)", responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, image_id):
        info, _ = api.check_image_access(user_id=self.actor_id, image_id=image_id, action=Action.VIEW)
        stem = info.original_name.rsplit(".", 1)[0] or "image"
        return _file_response(api.open_thumbnail(image_id=info.id), filename=f"{stem}.thumbnail.png",
                              content_type="image/png", as_attachment=False, cache="private, max-age=3600")


def _valid(serializer_class, data, **kwargs) -> dict:
    ser = serializer_class(data=data, **kwargs)
    ser.is_valid(raise_exception=True)
    return dict(ser.validated_data)
