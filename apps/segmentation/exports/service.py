"""Export service: plan (permission + validation), build (read results, write a format), deliver
(stream small exports, run large ones as ``segmentation.export`` jobs whose file is kept in
storage for ``EXPORT_DOWNLOAD_TTL_SECONDS``), and the audit event.

Results are read through the segmentation api (``get_latest_results`` / ``get_result_version``),
images through ``apps.images.api``; the format code in this package is pure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import posixpath
import tempfile
import uuid
from collections.abc import Callable, Iterable
from typing import IO, Any, BinaryIO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from apps.common import events
from apps.images import api as images_api
from apps.images.contracts import Action
from apps.segmentation import api as segmentation_api
from apps.segmentation.contracts import SegmentationError
from apps.segmentation.events import ExportCreated
from apps.segmentation.exports import formats
from apps.segmentation.exports.base import ExportItem, ExportMeta, slug
from apps.segmentation.exports.tables import TABLES

logger = logging.getLogger(__name__)

EXPORT_JOB = "segmentation.export"
STORAGE_PREFIX = "exports"
READ_CHUNK = 200  # images per result query


class ExportError(SegmentationError):
    code = "invalid_export"
    status_code = 400


class ExportNotReady(SegmentationError):
    code = "not_ready"
    status_code = 409


class ExportExpired(SegmentationError):
    code = "expired"
    status_code = 410


@dataclasses.dataclass(frozen=True)
class ExportPlan:
    project_id: uuid.UUID
    project_name: str
    format: str
    image_ids: list[uuid.UUID]
    version: int | None = None
    table: str = "objects"
    selected: bool = False  # images were listed explicitly

    @property
    def spec(self) -> formats.ExportFormat:
        return formats.FORMATS[self.format]

    @property
    def filename(self) -> str:
        suffix = "" if self.format != "csv" or self.table == "objects" else f"-{self.table}"
        version = f"-v{self.version}" if self.version else ""
        return f"{slug(self.project_name)}-{self.format}{suffix}{version}.{self.spec.extension}"

    def to_params(self) -> dict[str, Any]:
        return {
            "project_id": str(self.project_id),
            "project_name": self.project_name,
            "format": self.format,
            "image_ids": [str(i) for i in self.image_ids],
            "version": self.version,
            "table": self.table,
            "selected": self.selected,
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ExportPlan:
        return cls(
            project_id=uuid.UUID(params["project_id"]),
            project_name=params.get("project_name", ""),
            format=params["format"],
            image_ids=[uuid.UUID(i) for i in params.get("image_ids") or []],
            version=params.get("version"),
            table=params.get("table") or "objects",
            selected=bool(params.get("selected")),
        )


@dataclasses.dataclass(frozen=True)
class ExportSummary:
    filename: str
    content_type: str
    image_count: int  # images in the export
    segmented_count: int  # of which have a result
    object_count: int


# --------------------------------------------------------------------------- plan


def _parse_ids(values: Iterable[uuid.UUID | str]) -> tuple[list[uuid.UUID], list[str]]:
    ids: list[uuid.UUID] = []
    bad: list[str] = []
    for value in values:
        try:
            ids.append(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value).strip()))
        except (ValueError, AttributeError):
            bad.append(str(value)[:64])
    return list(dict.fromkeys(ids)), bad


def plan_export(
    *,
    user_id: uuid.UUID | str | None,
    project_id: uuid.UUID | str,
    fmt: str,
    image_ids: Iterable[uuid.UUID | str] | None = None,
    version: int | None = None,
    table: str = "objects",
) -> ExportPlan:
    """Check access (VIEW: viewers included; ``user_id=None`` for operators) and validate.

    Raises ``ProjectNotFound`` (non-member, 404) or :class:`ExportError` (400).
    """
    if user_id is not None:
        images_api.check_access(user_id=user_id, project_id=project_id, action=Action.VIEW)
    project = images_api.get_project(project_id=project_id)
    errors: dict[str, list[str]] = {}
    if fmt not in formats.FORMATS:
        errors["format"] = [f"One of: {', '.join(formats.FORMATS)}."]
    if table not in TABLES:
        errors["table"] = [f"One of: {', '.join(TABLES)}."]
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        errors["version"] = ["A positive integer."]
    project_ids = images_api.list_project_image_ids(project_id=project.id)
    selected = image_ids is not None
    if selected:
        wanted, bad = _parse_ids(image_ids or [])
        known = set(project_ids)
        missing = [str(i) for i in wanted if i not in known]
        if bad or missing:
            errors["images"] = [f"Not images of this project: {', '.join((bad + missing)[:10])}."]
        elif not wanted:
            errors["images"] = ["List at least one image id."]
        ids = wanted
    else:
        ids = project_ids
    if not errors and version is not None:
        # listed images must all have the version; a whole-project export needs it somewhere
        # (images without it are listed like unsegmented ones: no outlines, empty figures)
        lacking = [str(i) for i in ids if segmentation_api.get_result_version(image_id=i, version=version) is None]
        if (selected and lacking) or (ids and len(lacking) == len(ids)):
            errors["version"] = [f"Version {version} does not exist for {len(lacking)} image(s): "
                                 f"{', '.join(lacking[:5])}."]
    if errors:
        raise ExportError(next(f"{k}: {v[0]}" for k, v in errors.items()), errors=errors)
    return ExportPlan(project_id=project.id, project_name=project.name, format=fmt, image_ids=ids,
                      version=version, table=table, selected=selected)


def runs_in_background(plan: ExportPlan) -> bool:
    return len(plan.image_ids) > settings.EXPORT_ASYNC_THRESHOLD_IMAGES


# --------------------------------------------------------------------------- build


def load_items(plan: ExportPlan) -> list[ExportItem]:
    """The images of the plan that still exist, in plan order, each with its chosen result."""
    items: list[ExportItem] = []
    for start in range(0, len(plan.image_ids), READ_CHUNK):
        chunk = plan.image_ids[start:start + READ_CHUNK]
        infos = images_api.get_images(ids=chunk)
        if plan.version is None:
            results = segmentation_api.get_latest_results(image_ids=chunk)
        else:
            results = {i: segmentation_api.get_result_version(image_id=i, version=plan.version) for i in chunk}
        items += [ExportItem(infos[i], results.get(i)) for i in chunk if i in infos]
    return items


def _opener(open_fn: Callable[..., BinaryIO]) -> Callable[[ExportItem], BinaryIO | None]:
    def opener(item: ExportItem) -> BinaryIO | None:
        try:
            return open_fn(image_id=item.image.id)
        except (OSError, LookupError, ValueError):
            logger.warning("export: file of image %s is missing", item.image.id)
            return None

    return opener


def build_export(plan: ExportPlan, out: IO[bytes], *, progress: Callable[[int], None] | None = None) -> ExportSummary:
    """Write the plan's export to ``out`` (no permission check: ``plan_export`` did it)."""
    items = load_items(plan)
    meta = ExportMeta(project_id=plan.project_id, project_name=plan.project_name, created_at=timezone.now(),
                      version=plan.version)
    if progress:
        progress(5)
    formats.write(
        plan.format, items, meta, out, table=plan.table,
        open_original=_opener(images_api.open_image), open_thumbnail=_opener(images_api.open_thumbnail),
        progress=progress,
    )
    segmented = [i for i in items if i.result is not None]
    return ExportSummary(
        filename=plan.filename,
        content_type=plan.spec.content_type,
        image_count=len(items),
        segmented_count=len(segmented),
        object_count=sum(len(i.result.polygons) for i in segmented if i.result),
    )


def record_export(plan: ExportPlan, summary: ExportSummary, *, actor_id, job_id: uuid.UUID | None = None) -> None:
    """Publish ``segmentation.export.created`` (audit trail)."""
    with transaction.atomic():
        events.publish(ExportCreated(
            subject_id=str(plan.project_id), project_id=str(plan.project_id),
            actor_id=str(actor_id) if actor_id else None, format=plan.format,
            image_count=summary.image_count, object_count=summary.object_count, result_version=plan.version,
            job_id=str(job_id) if job_id else "",
        ))


def export_to_tempfile(plan: ExportPlan, *, actor_id) -> tuple[IO[bytes], ExportSummary]:
    """Build into a temporary file (rewound; closing it deletes it) and record the export."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 (handed to the response, which closes it)
    try:
        summary = build_export(plan, out)
        record_export(plan, summary, actor_id=actor_id)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out, summary


# --------------------------------------------------------------------------- background exports


def submit_export_job(plan: ExportPlan, *, actor_id) -> Any:
    """Queue the export as a job (progress over the project websocket comes with the job)."""
    from apps.tasks import api as tasks_api

    with transaction.atomic():
        job, _ = tasks_api.submit_job(
            kind=EXPORT_JOB, owner_id=uuid.UUID(str(actor_id)) if actor_id else None,
            project_id=plan.project_id, params=plan.to_params(),
        )
    return job


def storage_name(job_id: uuid.UUID, project_id: uuid.UUID, filename: str) -> str:
    return f"{STORAGE_PREFIX}/{project_id}/{job_id}/{filename}"


def run_export_job(handle) -> str | None:
    """Handler of ``segmentation.export`` jobs: build into storage, then succeed with its name."""
    from apps.tasks.contracts import JobCancelled, PermanentJobError

    job = handle.job
    handle.progress("loading", 1)
    try:
        plan = ExportPlan.from_params(job.params or {})
    except (KeyError, ValueError, TypeError) as exc:
        raise PermanentJobError(f"Bad export parameters: {exc}") from exc
    purge_expired_exports()

    def report(percent: int) -> None:
        handle.progress("exporting", max(1, min(95, int(percent))))

    name = storage_name(job.id, plan.project_id, plan.filename)
    with tempfile.TemporaryFile() as out:
        summary = build_export(plan, out, progress=report)
        handle.progress("saving", 96)
        out.seek(0)
        if default_storage.exists(name):  # a retried attempt: replace, never duplicate
            default_storage.delete(name)
        saved = default_storage.save(name, File(out, name=posixpath.basename(name)))

    def commit() -> str:
        record_export(plan, summary, actor_id=job.owner_id, job_id=job.id)
        return saved

    try:
        return handle.commit_result(commit)
    except JobCancelled:
        default_storage.delete(saved)
        raise


def _expires_at(job) -> dt.datetime | None:
    if job.finished_at is None:
        return None
    return job.finished_at + dt.timedelta(seconds=settings.EXPORT_DOWNLOAD_TTL_SECONDS)


def export_download(*, user_id, job_id) -> tuple[BinaryIO, str, dt.datetime]:
    """Open a finished background export for a member of its project.

    Raises ``ProjectNotFound`` (unknown job, other kind, or non-member: 404), ``ExportNotReady``
    (409) or ``ExportExpired`` (410; the file is deleted then).
    """
    from apps.images.contracts import ProjectNotFound
    from apps.tasks import api as tasks_api
    from apps.tasks.contracts import JobStatus

    try:
        job = tasks_api.get_job(job_id=uuid.UUID(str(job_id)))
    except ValueError:
        job = None
    if job is None or job.kind != EXPORT_JOB or job.project_id is None:
        raise ProjectNotFound(str(job_id))
    images_api.check_access(user_id=user_id, project_id=job.project_id, action=Action.VIEW)
    if job.status != JobStatus.SUCCEEDED:
        raise ExportNotReady(f"The export is {job.status} ({job.progress}%).", errors={"status": [str(job.status)]})
    expires_at = _expires_at(job)
    name = job.result_ref
    if expires_at is None or expires_at <= timezone.now() or not name or not default_storage.exists(name):
        if name and default_storage.exists(name):
            default_storage.delete(name)
        raise ExportExpired("This export has expired; export again.")
    return default_storage.open(name, "rb"), posixpath.basename(name), expires_at


def purge_expired_exports() -> int:
    """Delete stored export files whose download window has passed (or whose job is gone)."""
    from apps.tasks import api as tasks_api

    removed = 0
    try:
        project_dirs, _ = default_storage.listdir(STORAGE_PREFIX)
    except (FileNotFoundError, OSError):
        return 0
    now = timezone.now()
    for project_dir in project_dirs:
        job_dirs, _ = default_storage.listdir(f"{STORAGE_PREFIX}/{project_dir}")
        ids, _bad = _parse_ids(job_dirs)
        jobs = tasks_api.get_jobs(ids=ids)
        for job_id in ids:
            job = jobs.get(job_id)
            expires_at = _expires_at(job) if job else now
            if expires_at is not None and expires_at <= now:
                prefix = f"{STORAGE_PREFIX}/{project_dir}/{job_id}"
                for filename in default_storage.listdir(prefix)[1]:
                    default_storage.delete(f"{prefix}/{filename}")
                    removed += 1
    return removed
