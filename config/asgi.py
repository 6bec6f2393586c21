"""ASGI entry point: HTTP through Django, websockets through Channels.

In embedded mode (EMBEDDED_WORKERS) the Dramatiq worker threads start with the server.
"""

import os
from importlib import import_module

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from apps.accounts.realtime.auth import JWTAuthMiddleware  # noqa: E402


def _daphne_leaves_bodies_to_django() -> None:
    """Twisted (under daphne) parses every multipart POST body itself before Django does: it
    answers a malformed one with a bare 400 (no body, no content type: not our error shape,
    found by the schemathesis run) and holds whole uploads in memory for nothing. Django parses
    bodies itself, so switch twisted's parsing off (``parsePOSTFormSubmission``)."""
    try:
        from daphne import http_protocol
    except ImportError:  # another ASGI server
        return
    request_class = http_protocol.WebRequest
    if getattr(request_class, "_spheroseg_no_form_parsing", False):
        return
    original = request_class.__init__

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("parsePOSTFormSubmission", False)
        original(self, *args, **kwargs)

    request_class.__init__ = __init__
    request_class._spheroseg_no_form_parsing = True


_daphne_leaves_bodies_to_django()


def _websocket_urlpatterns() -> list:
    patterns: list = []
    for ctx in ("accounts", "images", "segmentation", "tasks", "audit"):
        try:
            module = import_module(f"apps.{ctx}.realtime.routing")
        except ModuleNotFoundError as exc:
            if exc.name not in {f"apps.{ctx}.realtime.routing", f"apps.{ctx}.realtime"}:
                raise
            continue
        patterns += module.websocket_urlpatterns
    return patterns


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(JWTAuthMiddleware(URLRouter(_websocket_urlpatterns())))),
    }
)

if settings.EMBEDDED_WORKERS:
    from apps.common.workers import start_embedded_worker

    start_embedded_worker(settings.EMBEDDED_WORKER_THREADS)
