"""Export doors: ``GET projects/{id}/export/`` and ``GET exports/{job_id}/download/``.

Members only (viewers included); non-members get 404. Up to ``EXPORT_ASYNC_THRESHOLD_IMAGES``
images the file is built and streamed at once (``Content-Disposition: attachment``); above
that the export runs as a ``segmentation.export`` job (202 with the job, progress on the
project websocket) and its file is downloaded from ``exports/{job_id}/download/`` until it
expires (``EXPORT_DOWNLOAD_TTL_SECONDS`` after the job finished).
"""

from __future__ import annotations

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from apps.common.openapi import ErrorSerializer
from apps.images import api as images_api
from apps.images.contracts import Action
from apps.segmentation.exports import formats
from apps.segmentation.exports import service as exports
from apps.segmentation.exports.tables import TABLES
from apps.segmentation.http import serializers as s
from apps.segmentation.http.views import SegmentationAPIView


class JSONErrorsOnly(BaseContentNegotiation):
    """``?format=`` names the export format here (not a DRF renderer), and a client asking for
    ``text/csv`` or ``application/zip`` must get the file, not 406: errors are always JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


FILE_RESPONSES = {
    (200, "application/json"): OpenApiResponse(OpenApiTypes.BINARY, description="COCO JSON (format=coco)"),
    (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="CSV (format=csv)"),
    (200, formats.FORMATS["xlsx"].content_type): OpenApiResponse(OpenApiTypes.BINARY, description="XLSX"),
    (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY,
                                              description="ZIP (masks, geojson, imagej, archive)"),
}


def _version(raw: str | None) -> int | None:
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = 0
    if value < 1 or value > 2**31 - 1:
        raise exceptions.ValidationError({"version": ["A positive integer."]})
    return value


def _file_response(fh, filename: str, content_type: str) -> FileResponse:
    response = FileResponse(fh, as_attachment=True, filename=filename, content_type=content_type)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


class ProjectExportView(SegmentationAPIView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONErrorsOnly

    @extend_schema(
        summary="Export measurements and outlines (streamed, or a background job for large exports)",
        description=(
            "Formats: `coco` (COCO JSON; objects with holes as RLE), `csv` (one row per object, units in the "
            "headers; `table=summary` for one row per image), `xlsx` (objects + summary sheets), `masks` "
            "(ZIP of 16-bit label PNGs), `geojson` (ZIP of one FeatureCollection per image), `imagej` (ZIP "
            "of Fiji RoiSet.zip files; holes as separate ROIs `obj-NNNN-hole-K`), `archive` (originals, "
            "thumbnails, every format, manifest.json with SHA-256). Exports of more images than "
            "`EXPORT_ASYNC_THRESHOLD_IMAGES` answer 202 with a job; download its file from "
            "`download_url` once the job succeeded. Viewers may export; non-members get 404."
        ),
        parameters=[
            OpenApiParameter("format", str, enum=list(formats.FORMATS), required=True),
            OpenApiParameter("images", str, description="Comma-separated image ids of this project (default: all)"),
            OpenApiParameter("version", int, description="Result version number (default: each image's latest)"),
            OpenApiParameter("table", str, enum=list(TABLES), description="For format=csv: objects (default) or summary"),
        ],
        responses={
            **FILE_RESPONSES,
            202: inline_serializer("ExportJobAccepted", {"job": s.JobSerializer(), "download_url": serializers.CharField()}),
            400: ErrorSerializer,
            404: ErrorSerializer,
        },
    )
    def get(self, request, project_id):
        params = request.query_params
        raw_images = params.get("images")
        image_ids = None if raw_images is None else [v for v in raw_images.split(",") if v.strip()]
        # permission first: a non-member learns nothing from a validation error
        images_api.check_access(user_id=self.actor_id, project_id=project_id, action=Action.VIEW)
        version = _version(params.get("version"))
        plan = exports.plan_export(
            user_id=None, project_id=project_id, fmt=params.get("format", ""), image_ids=image_ids,
            version=version, table=params.get("table") or "objects",
        )
        if exports.runs_in_background(plan):
            job = exports.submit_export_job(plan, actor_id=self.actor_id)
            body = {"job": s.JobSerializer(job).data,
                    "download_url": reverse("v1:export-download", kwargs={"job_id": str(job.id)})}
            return Response(body, status=status.HTTP_202_ACCEPTED)
        fh, summary = exports.export_to_tempfile(plan, actor_id=self.actor_id)
        return _file_response(fh, summary.filename, summary.content_type)


class ExportDownloadView(SegmentationAPIView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONErrorsOnly

    @extend_schema(
        summary="Download the file of a background export (members of its project; expires)",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The export file"),
            404: ErrorSerializer,
            409: OpenApiResponse(ErrorSerializer, description="The job has not succeeded (yet)"),
            410: OpenApiResponse(ErrorSerializer, description="The download window has passed"),
        },
    )
    def get(self, request, job_id):
        fh, filename, expires_at = exports.export_download(user_id=self.actor_id, job_id=job_id)
        extension = filename.rsplit(".", 1)[-1]
        content_type = next((f.content_type for f in formats.FORMATS.values() if f.extension == extension),
                            "application/octet-stream")
        response = _file_response(fh, filename, content_type)
        response["Expires"] = expires_at.strftime("%a, %d %b %Y %H:%M:%S GMT")
        return response
