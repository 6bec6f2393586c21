"""HTTP helpers shared by every context's REST API."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


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
    return response


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
