"""Server-rendered page: a project's audit trail for its owner (``/projects/<id>/audit/``)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.audit import selectors
from apps.images import api as images_api
from apps.images.contracts import AccessDenied, Action, ProjectNotFound

PAGE_SIZE = 100


@require_GET
@login_required
def project_trail(request, project_id):
    try:
        images_api.check_access(user_id=request.user.id, project_id=project_id, action=Action.MANAGE)
    except ProjectNotFound:
        raise Http404 from None
    except AccessDenied:
        raise PermissionDenied from None
    project = images_api.get_project(project_id=project_id)
    qs = selectors.project_records(str(project_id)).order_by("-sequence")
    before = request.GET.get("before", "")
    if before.isdigit():
        qs = qs.filter(sequence__lt=int(before))
    records = list(qs[: PAGE_SIZE + 1])
    older = records[PAGE_SIZE - 1].sequence if len(records) > PAGE_SIZE else None
    return render(
        request,
        "audit/project_trail.html",
        {"project": project, "records": records[:PAGE_SIZE], "older_before": older},
    )
