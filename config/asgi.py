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
