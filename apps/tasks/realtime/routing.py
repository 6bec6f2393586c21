"""Websocket routes of the tasks context (collected by config.asgi)."""

from django.urls import path

from apps.tasks.realtime.consumers import ProjectJobsConsumer

websocket_urlpatterns = [
    path("ws/projects/<uuid:project_id>/", ProjectJobsConsumer.as_asgi()),
]
