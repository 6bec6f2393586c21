"""OpenAPI (drf-spectacular) pieces shared by every context: the error component, the
authentication descriptions, and a post-processing hook that documents the uniform error
answers on every operation.

Every error body has the shape of :mod:`apps.common.http`: ``{"detail": str, "code": str,
"errors": {field: [message]}}`` (``errors`` only for validation errors; a few answers add
their own keys, e.g. ``latest_version`` on 409).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

API_DESCRIPTION = """Segment and measure cell spheroids in microscopy images.

## Authentication

* **JWT bearer** (`jwtAuth`): `POST /api/v1/auth/token/` with `{"email", "password"}` answers
  `{"access", "refresh"}`; send `Authorization: Bearer <access>`. Access tokens are short-lived;
  `POST /api/v1/auth/token/refresh/` rotates the refresh token (an old one is refused).
* **Session + CSRF** (`cookieAuth`): the web app's session cookie; unsafe methods (POST, PUT,
  PATCH, DELETE) also need the `X-CSRFToken` header with the value of the `csrftoken` cookie.

The project websocket `/ws/projects/{id}/` accepts the same two: a session cookie, or an
`Authorization: Bearer` header on the handshake.

## Errors

Every error answer is JSON of one shape (component `Error`):
`{"detail": "human-readable message", "code": "machine_code", "errors": {"field": ["message"]}}`
(`errors` only on validation errors). Non-members get **404** for a project and everything in
it (no existence leak); members whose role is too small get **403**.
"""

JWT_DESCRIPTION = "`Authorization: Bearer <access token>` from `POST /api/v1/auth/token/`."
SESSION_DESCRIPTION = (
    "Browser session cookie (sign in on the web app); unsafe methods also need the `X-CSRFToken` header "
    "carrying the `csrftoken` cookie's value."
)


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    """The uniform error body of every endpoint."""

    detail = serializers.CharField(help_text="Human-readable message.")
    code = serializers.CharField(help_text="Machine-readable code, e.g. invalid, not_found, permission_denied.")
    errors = serializers.DictField(
        child=serializers.JSONField(), required=False,
        help_text="Field errors (validation errors only): field name -> list of messages, or for nested "
                  "fields an object of the same shape (e.g. list index -> messages).",
    )


_ERROR_REF = {"$ref": "#/components/schemas/Error"}
#: The component as the generator writes it for ErrorSerializer (used when no view names it).
ERROR_SCHEMA = {
    "type": "object",
    "description": "The uniform error body of every endpoint.",
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {}},
    },
    "required": ["code", "detail"],
}
_DESCRIPTIONS = {
    "400": "Invalid input (field errors in `errors`).",
    "401": "Not authenticated, or the token is invalid or expired.",
    "403": "Authenticated, but the role does not allow this.",
    "404": "Not found, or not visible to this user (non-members get 404).",
}
_UNSAFE = {"post", "put", "patch", "delete"}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def postprocess(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Add the authentication descriptions and the uniform error answers to every operation."""
    components = result.setdefault("components", {})
    schemes = components.setdefault("securitySchemes", {})
    if "jwtAuth" in schemes:
        schemes["jwtAuth"]["description"] = JWT_DESCRIPTION
    if "cookieAuth" in schemes:
        schemes["cookieAuth"]["description"] = SESSION_DESCRIPTION
    result.setdefault("info", {})["description"] = API_DESCRIPTION
    components.setdefault("schemas", {}).setdefault("Error", ERROR_SCHEMA)
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            wanted = []
            secured = any(req for req in operation.get("security", []) if req)
            if secured:
                wanted.append("401")
            if "{" in path:
                wanted.append("404")
            if method in _UNSAFE or operation.get("parameters") or "requestBody" in operation:
                wanted.append("400")
            if secured and method in _UNSAFE:
                wanted.append("403")
            for code in wanted:
                responses.setdefault(code, _error_response(_DESCRIPTIONS[code]))
    return result
