"""URLs of the segmentation context: REST under /api/v1/ and server-rendered pages."""

from django.urls import path

from apps.segmentation.http import export_views, pages, views

api_urlpatterns = [
    path("models/", views.ModelListView.as_view(), name="model-list"),
    path("images/<str:image_id>/segment/", views.ImageSegmentView.as_view(), name="image-segment"),
    path("projects/<str:project_id>/segment/", views.ProjectSegmentView.as_view(), name="project-segment"),
    path("images/<str:image_id>/segmentation/", views.SegmentationView.as_view(), name="image-segmentation"),
    path("images/<str:image_id>/segmentation/versions/", views.VersionListView.as_view(),
         name="image-segmentation-versions"),
    path("images/<str:image_id>/segmentation/versions/<int:version>/restore/", views.RestoreView.as_view(),
         name="image-segmentation-restore"),
    path("projects/<str:project_id>/export/", export_views.ProjectExportView.as_view(), name="project-export"),
    path("exports/<str:job_id>/download/", export_views.ExportDownloadView.as_view(), name="export-download"),
]
page_urlpatterns = [
    path("images/<uuid:image_id>/", pages.image_page, name="image-page"),
    path("models/", pages.models_page, name="models-page"),
]
