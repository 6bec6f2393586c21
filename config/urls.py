"""Root URLs: each context contributes ``api_urlpatterns`` and ``page_urlpatterns``."""

from importlib import import_module

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.common import health
from apps.common.metrics import metrics_view

CONTEXTS = ["accounts", "images", "segmentation", "tasks", "audit"]


def _collect(attr: str) -> list:
    patterns: list = []
    for ctx in CONTEXTS:
        try:
            module = import_module(f"apps.{ctx}.http.urls")
        except ModuleNotFoundError as exc:
            if exc.name != f"apps.{ctx}.http.urls" and exc.name != f"apps.{ctx}.http":
                raise
            continue
        patterns += getattr(module, attr, [])
    return patterns


api_urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    *_collect("api_urlpatterns"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ReadyView.as_view(), name="health-ready"),
    path("health/", health.DetailView.as_view(), name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/", include((api_urlpatterns, "api"), namespace="v1")),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="v1:schema"), name="api-docs"),
    path("i18n/", include("django.conf.urls.i18n")),
    *_collect("page_urlpatterns"),
]
