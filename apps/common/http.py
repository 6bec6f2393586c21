"""HTTP helpers shared by every context's REST API."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.common import events

#: Answers recorded as access denials (``common.access.denied``): 401, 403, 429 (throttled, as in
#: a login storm) and 404 only for a URL that names an object (a non-member gets 404 for a
#: project, image or job it may not see).
DENIAL_STATUSES = {401, 403, 404, 429}


def exception_handler(exc, ctx):
    """Uniform JSON errors: ``{"detail": str, "code": str, "errors": {field: [msg]}}``."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, ctx)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        errors = data if isinstance(data, dict) else {"non_field_errors": data}
        detail = _first_message(errors) or "Invalid input."
        response.data = {"detail": detail, "code": "invalid", "errors": errors}
    else:
        detail = data.get("detail", "") if isinstance(data, dict) else str(data)
        code = getattr(getattr(exc, "detail", None), "code", None) or getattr(exc, "default_code", "error")
        response.data = {"detail": str(detail), "code": str(code)}
        if isinstance(data, dict):
            response.data.update({k: v for k, v in data.items() if k not in {"detail", "code"}})
    if response.status_code in DENIAL_STATUSES:
        _publish_denial(response, ctx)
    return response


def _publish_denial(response, ctx) -> None:
    """Publish ``common.access.denied`` for the audit trail (after the view's transaction ended)."""
    kwargs = ctx.get("kwargs") or {}
    id_kwargs = [(k, v) for k, v in kwargs.items() if k.endswith("_id") or k in {"pk", "id"}]
    if response.status_code == 404 and not id_kwargs:
        return
    request = ctx.get("request")
    user = getattr(request, "_user", None) if request is not None else None
    actor_id = str(user.pk) if user is not None and getattr(user, "is_authenticated", False) else None
    # The object asked for: the most specific id in the URL (the last one), its project if named.
    resource, resource_id = ("", None)
    if id_kwargs:
        key, resource_id = id_kwargs[-1]
        resource = key[:-3] if key.endswith("_id") else "object"
    view = ctx.get("view")
    events.publish_denied(
        actor_id=actor_id,
        resource=resource,
        resource_id=str(resource_id) if resource_id is not None else None,
        project_id=str(kwargs["project_id"]) if kwargs.get("project_id") else None,
        status_code=response.status_code,
        code=str(response.data.get("code", "")) if isinstance(response.data, dict) else "",
        method=getattr(request, "method", "") or "",
        path=getattr(request, "path", "") or "",
        view=f"{type(view).__module__}.{type(view).__qualname__}" if view is not None else "",
    )


def _first_message(errors) -> str | None:
    if isinstance(errors, dict):
        for field, value in errors.items():
            msg = _first_message(value)
            if msg:
                return msg if field == "non_field_errors" else f"{field}: {msg}"
    elif isinstance(errors, list):
        for value in errors:
            msg = _first_message(value)
            if msg:
                return msg
    elif errors:
        return str(errors)
    return None


def error_response(detail: str, *, code: str = "error", http_status: int = status.HTTP_400_BAD_REQUEST, **extra) -> Response:
    """A JSON error in the project's shape, for views that answer errors themselves."""
    return Response({"detail": detail, "code": code, **extra}, status=http_status)
