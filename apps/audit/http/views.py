"""REST views of the audit context (read only).

* ``GET /api/v1/audit/``: every record, operators (``is_staff``) only;
* ``GET /api/v1/projects/{id}/audit/``: one project's trail, its owner only (non-members 404,
  other members 403, through ``apps.images.api.check_access(..., Action.MANAGE)``).

Both take the same filters, page with a cursor over ``sequence`` and export JSON Lines with
``?format=jsonl`` (streamed; the lines are the archive format, so an unfiltered export verifies
with ``manage.py verify_audit_log --archive``).
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, permissions
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.views import APIView

from apps.audit import chain, selectors
from apps.audit.http.serializers import FilterSerializer, RecordSerializer
from apps.images import api as images_api
from apps.images.contracts import AccessDenied, Action, ProjectNotFound

EXPORT_CHUNK = 1000
FILTER_PARAMETERS = [
    OpenApiParameter("actor", str, description="User id or 'system'"),
    OpenApiParameter("project", str, description="Project id (operators' list only)"),
    OpenApiParameter("event_type", str, description="Exact versioned type, or a prefix ending in '.' or '*'"),
    OpenApiParameter("subject_type", str),
    OpenApiParameter("subject_id", str),
    OpenApiParameter("outcome", str, enum=["success", "denied", "failed"]),
    OpenApiParameter("request_id", str),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="occurred_at >= since"),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="occurred_at < until"),
    OpenApiParameter("format", str, enum=["json", "jsonl"], description="jsonl: stream every match as JSON Lines"),
    OpenApiParameter("page_size", int, description="1-500 (default 50)"),
]


class JSONLinesRenderer(BaseRenderer):
    """Selected by ``?format=jsonl``; the views answer with a streaming response themselves."""

    media_type = "application/x-ndjson"
    format = "jsonl"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):  # errors only
        return JSONRenderer().render(data) + b"\n"


class SequenceCursorPagination(CursorPagination):
    ordering = "sequence"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def _iter_lines(queryset):
    last = 0
    while True:
        chunk = list(queryset.filter(sequence__gt=last)[:EXPORT_CHUNK])
        if not chunk:
            return
        for record in chunk:
            yield chain.to_json_line(record) + "\n"
        last = chunk[-1].sequence


async def _aiter_lines(queryset):
    last = 0
    while True:
        chunk = await sync_to_async(list)(queryset.filter(sequence__gt=last)[:EXPORT_CHUNK])
        if not chunk:
            return
        for record in chunk:
            yield chain.to_json_line(record) + "\n"
        last = chunk[-1].sequence


class _RecordListView(APIView):
    renderer_classes = [JSONRenderer, JSONLinesRenderer]
    pagination_class = SequenceCursorPagination
    export_name = "audit"

    def _filter(self, request, *, with_project=True):
        params = {k: v for k, v in request.query_params.items() if k not in {"format", "cursor", "page_size"}}
        serializer = FilterSerializer(data=params)
        serializer.is_valid(raise_exception=True)
        return serializer.to_filter(with_project=with_project)

    def _respond(self, request, queryset):
        if getattr(request.accepted_renderer, "format", None) == "jsonl":
            queryset = queryset.order_by("sequence")
            # Under ASGI an async iterator streams; a sync one would be read whole first.
            content = _aiter_lines(queryset) if isinstance(request._request, ASGIRequest) else _iter_lines(queryset)
            response = StreamingHttpResponse(content, content_type="application/x-ndjson; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="{self.export_name}.jsonl"'
            return response
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(RecordSerializer(page, many=True).data)


class AuditListView(_RecordListView):
    permission_classes = [permissions.IsAuthenticated, permissions.IsAdminUser]

    @extend_schema(summary="Audit records (operators)", parameters=FILTER_PARAMETERS,
                   responses=RecordSerializer(many=True))
    def get(self, request):
        return self._respond(request, selectors.records(self._filter(request)))


class ProjectAuditView(_RecordListView):
    @extend_schema(summary="A project's audit trail (owner)", parameters=FILTER_PARAMETERS,
                   responses=RecordSerializer(many=True))
    def get(self, request, project_id):
        try:
            images_api.check_access(user_id=request.user.id, project_id=project_id, action=Action.MANAGE)
        except ProjectNotFound:
            raise exceptions.NotFound() from None
        except AccessDenied as exc:
            raise exceptions.PermissionDenied(str(exc) or "Only the project's owner can read its audit trail.") from None
        self.export_name = f"audit-project-{project_id}"
        flt = self._filter(request, with_project=False)
        return self._respond(request, selectors.project_records(str(project_id), flt))
