"""URLs of the tasks context: REST under /api/v1/ and server-rendered pages."""

from django.urls import path

from apps.tasks.http import views

api_urlpatterns = [
    path("jobs/", views.JobListView.as_view(), name="job-list"),
    path("jobs/stats/", views.JobStatsView.as_view(), name="job-stats"),
    path("jobs/<str:job_id>/", views.JobDetailView.as_view(), name="job-detail"),
    path("jobs/<str:job_id>/cancel/", views.JobCancelView.as_view(), name="job-cancel"),
    path("jobs/<str:job_id>/replay/", views.JobReplayView.as_view(), name="job-replay"),
]
page_urlpatterns: list = []
