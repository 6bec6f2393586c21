"""URLs of the images context: REST under /api/v1/ (pages are added by the web colleague)."""

from django.urls import path

from apps.images.http import pages, views

api_urlpatterns = [
    path("projects/", views.ProjectListView.as_view(), name="project-list"),
    path("projects/<str:project_id>/", views.ProjectDetailView.as_view(), name="project-detail"),
    path("projects/<str:project_id>/members/", views.MemberListView.as_view(), name="project-members"),
    path("projects/<str:project_id>/members/<str:user_id>/", views.MemberDetailView.as_view(), name="project-member"),
    path("projects/<str:project_id>/leave/", views.LeaveView.as_view(), name="project-leave"),
    path("projects/<str:project_id>/transfer-ownership/", views.TransferOwnershipView.as_view(),
         name="project-transfer-ownership"),
    path("projects/<str:project_id>/images/", views.ProjectImagesView.as_view(), name="project-images"),
    path("images/<str:image_id>/", views.ImageDetailView.as_view(), name="image-detail"),
    path("images/<str:image_id>/file/", views.ImageFileView.as_view(), name="image-file"),
    path("images/<str:image_id>/thumbnail/", views.ImageThumbnailView.as_view(), name="image-thumbnail"),
]
page_urlpatterns = [
    path("", pages.dashboard, name="dashboard"),
    path("projects/<uuid:project_id>/", pages.project_page, name="project-page"),
    path("projects/<uuid:project_id>/members/", pages.project_members, name="project-members-page"),
    path("projects/<uuid:project_id>/settings/", pages.project_settings, name="project-settings"),
    path("projects/<uuid:project_id>/exports/", pages.project_exports, name="project-exports"),
    path("projects/<uuid:project_id>/charts/", pages.project_charts, name="project-charts"),
    path("images/<uuid:image_id>/preview/", pages.image_preview, name="image-preview"),
]
