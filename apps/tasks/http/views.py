"""Job REST API: thin views (parse, check project access, call the context, render).

Visibility: a job belongs to a project; members see it (viewer+), editors may cancel and
replay. Anyone else gets 404, as if the job did not exist. Jobs without a project are
visible to their owner only.
"""

from __future__ import annotations

import uuid

from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.http import error_response
from apps.images.api import check_access, member_project_ids
from apps.images.contracts import AccessDenied, Action, ProjectNotFound
from apps.tasks import selectors, services
from apps.tasks.contracts import JobInfo, JobNotFound, JobStateError
from apps.tasks.http.serializers import (
    JobFilterSerializer,
    JobSerializer,
    JobStatsSerializer,
    StatsFilterSerializer,
    job_json,
)


def _parse_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound() from None


def _require(user, project_id, action: Action) -> None:
    try:
        check_access(user_id=user.id, project_id=project_id, action=action)
    except ProjectNotFound:
        raise NotFound() from None
    except AccessDenied as exc:
        raise PermissionDenied(str(exc) or "Your role in this project does not allow this.") from None


def _visible_job(request, job_id: str, action: Action = Action.VIEW) -> JobInfo:
    info = selectors.get_job(_parse_uuid(job_id))
    if info is None:
        raise NotFound()
    if info.project_id is None:
        if info.owner_id != request.user.id:
            raise NotFound()
        return info
    try:
        check_access(user_id=request.user.id, project_id=info.project_id, action=Action.VIEW)
    except (ProjectNotFound, AccessDenied):
        raise NotFound() from None
    if action != Action.VIEW:
        _require(request.user, info.project_id, action)
    return info


def _visible_scope(request, project_id: uuid.UUID | None):
    if project_id is not None:
        _require(request.user, project_id, Action.VIEW)
        return Q(project_id=project_id)
    projects = member_project_ids(user_id=request.user.id)
    return Q(project_id__in=projects) | Q(project_id__isnull=True, owner_id=request.user.id)


class JobListView(APIView):
    pagination_class = PageNumberPagination  # documents the paginated answer in the schema

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str), OpenApiParameter("kind", str),
            OpenApiParameter("project", uuid.UUID), OpenApiParameter("image", uuid.UUID),
        ],
        responses=JobSerializer(many=True),
    )
    def get(self, request):
        filters = JobFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        f = filters.validated_data
        scope = _visible_scope(request, f.get("project"))
        qs = selectors.list_jobs(project_ids=None, status=f.get("status"), kind=f.get("kind"),
                                 image_id=f.get("image")).filter(scope)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response([job_json(selectors.to_info(job)) for job in page])


class JobDetailView(APIView):
    @extend_schema(responses=JobSerializer)
    def get(self, request, job_id: str):
        return Response(job_json(_visible_job(request, job_id)))


class JobCancelView(APIView):
    @extend_schema(request=None, responses=JobSerializer)
    def post(self, request, job_id: str):
        info = _visible_job(request, job_id, Action.EDIT)
        try:
            info = services.cancel_job(job_id=info.id, actor_id=request.user.id)
        except JobNotFound:
            raise NotFound() from None
        except JobStateError as exc:
            return error_response(str(exc), code="conflict", http_status=status.HTTP_409_CONFLICT)
        return Response(job_json(info))


class JobReplayView(APIView):
    @extend_schema(request=None, responses=JobSerializer)
    def post(self, request, job_id: str):
        info = _visible_job(request, job_id, Action.EDIT)
        try:
            info = services.replay_job(job_id=info.id, actor_id=request.user.id)
        except JobNotFound:
            raise NotFound() from None
        except JobStateError as exc:
            return error_response(str(exc), code="conflict", http_status=status.HTTP_409_CONFLICT)
        return Response(job_json(info), status=status.HTTP_202_ACCEPTED)


class JobStatsView(APIView):
    @extend_schema(parameters=[OpenApiParameter("project", uuid.UUID)], responses=JobStatsSerializer)
    def get(self, request):
        filters = StatsFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        project = filters.validated_data.get("project")
        if project is not None:
            _require(request.user, project, Action.VIEW)
            projects = [project]
        else:
            projects = member_project_ids(user_id=request.user.id)
        stats = selectors.stats(project_ids=projects)
        return Response(JobStatsSerializer(stats).data)
