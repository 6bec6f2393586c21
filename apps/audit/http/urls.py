"""URLs of the audit context: REST under /api/v1/ and server-rendered pages."""

from django.urls import path

from apps.audit.http import pages, views

api_urlpatterns = [
    path("audit/", views.AuditListView.as_view(), name="audit-list"),
    path("projects/<str:project_id>/audit/", views.ProjectAuditView.as_view(), name="project-audit"),
]
page_urlpatterns = [
    path("projects/<uuid:project_id>/audit/", pages.project_trail, name="project-audit-page"),
]
