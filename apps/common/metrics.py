"""``/metrics`` in Prometheus text format, closed in production.

Open when METRICS_PUBLIC is on (development). Otherwise a staff session or
``Authorization: Bearer <METRICS_TOKEN>`` is required.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpResponse
from django_prometheus.exports import ExportToDjangoView


def metrics_view(request):
    if not settings.METRICS_PUBLIC:
        token = settings.METRICS_TOKEN
        header = request.headers.get("Authorization", "")
        bearer_ok = bool(token) and hmac.compare_digest(header.encode(), f"Bearer {token}".encode())
        staff_ok = getattr(request, "user", None) is not None and request.user.is_authenticated and request.user.is_staff
        if not (bearer_ok or staff_ok):
            return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    return ExportToDjangoView(request)
