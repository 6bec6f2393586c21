"""HTTP middleware of the shared kernel."""

from __future__ import annotations

import re

from django.conf import settings

from apps.common import context

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _client_ip(request) -> str | None:
    # Behind a proxy the operator enables USE_X_FORWARDED_FOR; otherwise trust the socket only.
    if getattr(settings, "USE_X_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR")


class RequestIdMiddleware:
    """Takes ``X-Request-ID`` (or makes one), binds the request context, echoes the header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else context.new_request_id()
        request.request_id = request_id
        ctx = context.RequestContext(
            request_id=request_id,
            client_ip=_client_ip(request),
            user_agent=request.headers.get("User-Agent", "")[:512] or None,
        )
        token = context.set_current(ctx)
        try:
            response = self.get_response(request)
        finally:
            context.reset(token)
        response["X-Request-ID"] = request_id
        return response


class ContentSecurityPolicyMiddleware:
    """Sends a strict Content-Security-Policy on every response that has none."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response
