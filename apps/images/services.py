"""Writes of the images context. Every public write checks permission through check_access."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import unicodedata
import uuid
from collections.abc import Iterable
from functools import partial
from typing import BinaryIO

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from apps.common import events as bus
from apps.images import events, imaging, storage
from apps.images.contracts import (
    Action,
    ImageInfo,
    ImagesError,
    MemberInfo,
    ProjectInfo,
    ProjectNotFound,
    Role,
    UploadOutcome,
    UploadResult,
)
from apps.images.models import Image, Membership, Project
from apps.images.selectors import (
    as_uuid,
    check_access,
    check_image_access,
    find_by_sha256,
    image_info,
    list_members,
    project_info,
    storage_used,
)

logger = logging.getLogger(__name__)

MAX_TAGS = 20
MAX_TAG_LENGTH = 50


def _s(value) -> str | None:
    return None if value is None else str(value)


# --------------------------------------------------------------------------- projects


def _clean_project_fields(fields: dict) -> dict:
    out = {}
    if "name" in fields:
        name = (fields["name"] or "").strip()
        if not name:
            raise ImagesError("A project needs a name.", code="invalid")
        out["name"] = name[:200]
    if "description" in fields:
        out["description"] = (fields["description"] or "").strip()
    if "tags" in fields:
        tags = []
        for tag in fields["tags"] or []:
            tag = str(tag).strip()[:MAX_TAG_LENGTH]
            if tag and tag not in tags:
                tags.append(tag)
        if len(tags) > MAX_TAGS:
            raise ImagesError(f"At most {MAX_TAGS} tags.", code="invalid")
        out["tags"] = tags
    if "pixel_size_um" in fields:
        px = fields["pixel_size_um"]
        if px is not None:
            px = float(px)
            if not (0 < px <= 10_000):
                raise ImagesError("The pixel size must be a positive number of µm per pixel.", code="invalid")
        out["pixel_size_um"] = px
    return out


def create_project(
    *, actor_id, name: str, description: str = "", tags: Iterable[str] = (), pixel_size_um: float | None = None
) -> ProjectInfo:
    uid = as_uuid(actor_id, ProjectNotFound)
    fields = _clean_project_fields(
        {"name": name, "description": description, "tags": list(tags), "pixel_size_um": pixel_size_um}
    )
    with transaction.atomic():
        project = Project.objects.create(owner_id=uid, **fields)
        Membership.objects.create(project=project, user_id=uid, role=Role.OWNER)
        bus.publish(
            events.ProjectCreated(
                subject_id=str(project.id), project_id=str(project.id), actor_id=str(uid), project_name=project.name
            )
        )
    return project_info(project)


def update_project(*, actor_id, project_id, **changes) -> ProjectInfo:
    """Change name, description, tags or default pixel size (owner only)."""
    access = check_access(user_id=actor_id, project_id=project_id, action=Action.MANAGE)
    allowed = {"name", "description", "tags", "pixel_size_um"}
    unknown = set(changes) - allowed
    if unknown:
        raise ImagesError(f"Unknown field(s): {', '.join(sorted(unknown))}.", code="invalid")
    fields = _clean_project_fields(changes)
    with transaction.atomic():
        project = Project.objects.select_for_update().get(id=access.project_id)
        changed = tuple(k for k, v in fields.items() if getattr(project, k) != v)
        for k, v in fields.items():
            setattr(project, k, v)
        project.save()
        if changed:
            bus.publish(
                events.ProjectUpdated(
                    subject_id=str(project.id), project_id=str(project.id), actor_id=_s(actor_id), changed=changed
                )
            )
    return project_info(project)


def delete_project(*, actor_id, project_id) -> None:
    """Delete the project, its memberships, images and stored files (owner only)."""
    access = check_access(user_id=actor_id, project_id=project_id, action=Action.MANAGE)
    _delete_project(access.project_id, actor_id=actor_id)


def _delete_project(project_id: uuid.UUID, *, actor_id) -> None:
    with transaction.atomic():
        project = Project.objects.select_for_update().filter(id=project_id).first()
        if project is None:
            return
        names = []
        for storage_name, thumb in Image.objects.filter(project=project).values_list("storage_name", "thumbnail_name"):
            names += [storage_name, thumb]
        count = len(names) // 2
        bus.publish(
            events.ProjectDeleted(
                subject_id=str(project.id),
                project_id=str(project.id),
                actor_id=_s(actor_id),
                project_name=project.name,
                image_count=count,
            )
        )
        Image.objects.filter(project=project).delete()
        project.delete()
        # Files go once the rows are surely gone: a rolled-back delete keeps its files.
        transaction.on_commit(partial(storage.delete_quietly, names))
    logger.info("deleted project %s with %d images", project_id, count)


# --------------------------------------------------------------------------- members


def add_member(*, actor_id, project_id, email: str, role: Role | str = Role.VIEWER) -> MemberInfo:
    from apps.accounts import api as accounts_api

    access = check_access(user_id=actor_id, project_id=project_id, action=Action.MANAGE)
    role = _member_role(role)
    user = accounts_api.find_user_by_email(email=email or "")
    if user is None:
        raise ImagesError("No active account uses this e-mail address.", code="user_not_found")
    with transaction.atomic():
        if Membership.objects.filter(project_id=access.project_id, user_id=user.id).exists():
            raise ImagesError("This user is already a member of the project.", code="already_member", status_code=409)
        try:
            with transaction.atomic():
                Membership.objects.create(project_id=access.project_id, user_id=user.id, role=role)
        except IntegrityError:
            raise ImagesError(
                "This user is already a member of the project.", code="already_member", status_code=409
            ) from None
        Project.objects.filter(id=access.project_id).update(updated_at=_now())
        bus.publish(
            events.MemberAdded(
                subject_id=str(user.id), project_id=str(access.project_id), actor_id=_s(actor_id), role=role.value
            )
        )
    return _member(access.project_id, user.id)


def _now():
    from django.utils import timezone

    return timezone.now()


def _member_role(role) -> Role:
    try:
        role = Role(role)
    except ValueError:
        raise ImagesError("The role must be editor or viewer.", code="invalid") from None
    if role is Role.OWNER:
        raise ImagesError(
            "A project has exactly one owner: transfer ownership instead.", code="use_transfer"
        )
    return role


def _member(project_id, user_id) -> MemberInfo:
    for m in list_members(project_id=project_id):
        if m.user_id == user_id:
            return m
    raise ImagesError("Not a member of this project.", code="not_found", status_code=404)


def _membership(project_id, user_id) -> Membership:
    try:
        uid = as_uuid(user_id, ProjectNotFound)
    except ProjectNotFound:
        raise ImagesError("Not a member of this project.", code="not_found", status_code=404) from None
    m = Membership.objects.select_for_update().filter(project_id=project_id, user_id=uid).first()
    if m is None:
        raise ImagesError("Not a member of this project.", code="not_found", status_code=404)
    return m


def change_member_role(*, actor_id, project_id, user_id, role: Role | str) -> MemberInfo:
    """Make a member editor or viewer; ``role="owner"`` transfers ownership to them."""
    try:
        wanted = Role(role)
    except ValueError:
        raise ImagesError("The role must be owner, editor or viewer.", code="invalid") from None
    if wanted is Role.OWNER:
        return transfer_ownership(actor_id=actor_id, project_id=project_id, new_owner_id=user_id)
    access = check_access(user_id=actor_id, project_id=project_id, action=Action.MANAGE)
    with transaction.atomic():
        m = _membership(access.project_id, user_id)
        if m.role == Role.OWNER:
            raise ImagesError(
                "The owner's role changes only by transferring ownership to another member.", code="use_transfer"
            )
        previous = m.role
        if previous != wanted:
            m.role = wanted
            m.save(update_fields=["role", "updated_at"])
            bus.publish(
                events.MemberChanged(
                    subject_id=str(m.user_id),
                    project_id=str(access.project_id),
                    actor_id=_s(actor_id),
                    role=wanted.value,
                    previous_role=previous,
                )
            )
    return _member(access.project_id, m.user_id)


def remove_member(*, actor_id, project_id, user_id) -> None:
    """The owner removes a member; any member removes themself (leave). The owner cannot leave."""
    access = check_access(user_id=actor_id, project_id=project_id, action=Action.VIEW)
    try:
        target = as_uuid(user_id, ProjectNotFound)
    except ProjectNotFound:
        raise ImagesError("Not a member of this project.", code="not_found", status_code=404) from None
    if target != access.user_id:
        check_access(user_id=actor_id, project_id=project_id, action=Action.MANAGE)
    with transaction.atomic():
        m = _membership(access.project_id, target)
        if m.role == Role.OWNER:
            raise ImagesError(
                "The owner cannot leave or be removed: transfer ownership first, or delete the project.",
                code="owner_cannot_leave",
                status_code=409,
            )
        previous = m.role
        m.delete()
        bus.publish(
            events.MemberRemoved(
                subject_id=str(target), project_id=str(access.project_id), actor_id=_s(actor_id), previous_role=previous
            )
        )


def leave_project(*, actor_id, project_id) -> None:
    remove_member(actor_id=actor_id, project_id=project_id, user_id=actor_id)


def transfer_ownership(*, actor_id, project_id, new_owner_id) -> MemberInfo:
    """Make another member the owner; the previous owner stays as an editor."""
    access = check_access(user_id=actor_id, project_id=project_id, action=Action.MANAGE)
    with transaction.atomic():
        project = Project.objects.select_for_update().get(id=access.project_id)
        new = _membership(project.id, new_owner_id)
        if new.role == Role.OWNER:
            return _member(project.id, new.user_id)
        old = Membership.objects.select_for_update().get(project=project, role=Role.OWNER)
        old.role = Role.EDITOR  # demote first: at most one owner at any moment
        old.save(update_fields=["role", "updated_at"])
        previous = new.role
        new.role = Role.OWNER
        new.save(update_fields=["role", "updated_at"])
        project.owner_id = new.user_id
        project.save(update_fields=["owner_id", "updated_at"])
        pid, actor = str(project.id), _s(actor_id)
        bus.publish(events.MemberChanged(subject_id=str(old.user_id), project_id=pid, actor_id=actor,
                                         role=Role.EDITOR.value, previous_role=Role.OWNER.value))
        bus.publish(events.MemberChanged(subject_id=str(new.user_id), project_id=pid, actor_id=actor,
                                         role=Role.OWNER.value, previous_role=previous))
        bus.publish(events.ProjectUpdated(subject_id=pid, project_id=pid, actor_id=actor, changed=("owner_id",)))
    return _member(project.id, new.user_id)


def delete_user_data(*, user_id, actor_id=None) -> int:
    """A user account was deleted: delete the projects they own and their memberships."""
    uid = as_uuid(user_id, ProjectNotFound)
    owned = list(Membership.objects.filter(user_id=uid, role=Role.OWNER).values_list("project_id", flat=True))
    for pid in owned:
        _delete_project(pid, actor_id=actor_id or uid)
    with transaction.atomic():
        for m in Membership.objects.select_for_update().filter(user_id=uid):
            previous = m.role
            pid = m.project_id
            m.delete()
            bus.publish(events.MemberRemoved(subject_id=str(uid), project_id=str(pid),
                                             actor_id=_s(actor_id or uid), previous_role=previous))
    return len(owned)


def on_user_deleted(event) -> None:
    """Subscriber of "accounts.user.deleted" (idempotent: a second delivery finds nothing)."""
    user_id = getattr(event, "user_id", None) or event.subject_id
    if user_id:
        delete_user_data(user_id=user_id, actor_id=event.actor_id)


# --------------------------------------------------------------------------- uploads


@dataclasses.dataclass
class UploadInput:
    """One file to ingest: a binary file object positioned anywhere, and the name the client gave."""

    name: str
    file: BinaryIO
    size: int | None = None
    unsafe_name: bool = False  # the client's name tried to leave its folder (../, absolute path)
    over_quota: bool = False  # not received: the request's files passed the remaining quota


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_unsafe_filename(raw: str) -> bool:
    """A name that tries to climb or be absolute: ``../x.png``, ``/etc/x``, ``C:\\x``, ``..``."""
    parts = re.split(r"[\\/]+", raw or "")
    return (
        any(p in {"..", "."} for p in parts[:-1])
        or parts[-1] in {"..", "."}
        or (raw or "").startswith(("/", "\\"))
        or bool(re.match(r"^[A-Za-z]:[\\/]", raw or ""))
    )


def display_filename(raw: str) -> str:
    """The original name made safe to store and show: last path component, no control chars."""
    name = re.split(r"[\\/]+", raw or "")[-1]
    name = unicodedata.normalize("NFC", _CONTROL.sub("", name)).strip()
    if name in {"", ".", ".."}:
        name = "image"
    if len(name) > 255:
        stem, ext = os.path.splitext(name)
        name = stem[: 255 - len(ext[:16])] + ext[:16]
    return name


def _reject(filename: str, code: str, detail: str, status_code: int, **extra) -> UploadResult:
    return UploadResult(
        filename=filename, outcome=UploadOutcome.REJECTED, status_code=status_code, code=code, detail=detail, **extra
    )


def _file_size(fh: BinaryIO, declared: int | None) -> int:
    if declared is not None:
        return int(declared)
    pos = fh.tell()
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    fh.seek(pos)
    return size


class _QuotaExceeded(Exception):
    def __init__(self, used: int):
        self.used = used


#: First key of the two-key PostgreSQL advisory lock taken per uploader (second: the user's hash).
QUOTA_LOCK_CLASS = 0x51554F54  # "QUOT"


def _lock_quota(user_id: uuid.UUID) -> None:
    """Hold the uploader's quota lock until the transaction ends (SQLite: writers are serial)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [QUOTA_LOCK_CLASS, str(user_id)])


def _quota_rejection(filename: str, size: int, used: int, quota: int) -> UploadResult:
    return _reject(filename, "quota_exceeded",
                   f"Storing this file ({size:,} bytes) would exceed your storage quota "
                   f"({used:,} of {quota:,} bytes used).", 413)


_DECODE_STATUS = {"too_many_pixels": 413, "not_an_image": 415, "unsupported_format": 415}


def upload_images(*, actor_id, project_id, files: list[UploadInput], source: str = "upload") -> list[UploadResult]:
    """Validate and store many files for a member who may edit (permission checked here)."""
    access = check_access(user_id=actor_id, project_id=project_id, action=Action.EDIT)
    limit = settings.UPLOAD_MAX_FILES_PER_REQUEST
    if source == "upload" and len(files) > limit:
        raise ImagesError(
            f"Too many files in one request: {len(files)} (limit {limit}). Send them in smaller batches.",
            code="too_many_files",
            status_code=413,
        )
    if not files:
        raise ImagesError("No files were sent: use the multipart field 'files'.", code="no_files")
    return ingest_files(project_id=access.project_id, uploaded_by=access.user_id, files=files, source=source)


def ingest_files(*, project_id, uploaded_by, files: Iterable[UploadInput], source: str = "upload",
                 on_result=None) -> list[UploadResult]:
    """Validate and store files (no permission check: callers did it). Each file is independent."""
    project = Project.objects.get(id=project_id)
    uploader = as_uuid(uploaded_by, ProjectNotFound)
    quota = settings.USER_STORAGE_QUOTA_BYTES
    used = storage_used(user_id=uploader)
    seen: dict[str, uuid.UUID] = {}
    results = []
    for item in files:
        result = _ingest_one(project, uploader, item, quota=quota, used=used, seen=seen, source=source)
        if result.accepted:
            used += result.image.file_size
            seen[result.image.sha256] = result.image.id
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def _ingest_one(project: Project, uploader: uuid.UUID, item: UploadInput, *, quota: int, used: int,
                seen: dict, source: str) -> UploadResult:
    filename = display_filename(item.name)
    if item.unsafe_name or is_unsafe_filename(item.name):
        return _reject(filename, "unsafe_filename",
                       "The file name contains a path (such as ../); send the file under a plain name.", 400)
    fh = item.file
    size = _file_size(fh, item.size)
    max_bytes = settings.UPLOAD_MAX_FILE_BYTES
    if item.over_quota:
        return _reject(filename, "quota_exceeded",
                       f"With this file ({size:,} bytes) the files sent in this request add up to more than "
                       f"your remaining storage quota (quota {quota:,} bytes), so it was not received. "
                       "Send it again in a smaller request.", 413)
    if size == 0:
        return _reject(filename, "empty", "The file is empty.", 400)
    if size > max_bytes:
        return _reject(filename, "too_large",
                       f"The file is {size:,} bytes, over the limit of {max_bytes:,} bytes.", 413)
    if used + size > quota:
        return _quota_rejection(filename, size, used, quota)
    sha256 = imaging.sha256_of(fh)
    existing = seen.get(sha256) or find_by_sha256(project_id=project.id, sha256=sha256)
    if existing:
        return _reject(filename, "duplicate", "The same file is already in this project.", 409,
                       existing_image_id=existing)
    try:
        decoded = imaging.decode_and_thumbnail(fh, max_pixels=settings.UPLOAD_MAX_PIXELS)
    except imaging.ImagingError as exc:
        return _reject(filename, exc.code, exc.detail, _DECODE_STATUS.get(exc.code, 400))
    image_id = uuid.uuid4()
    stored: list[str] = []
    try:
        stored.append(storage.save_file(storage.image_name(project.id, image_id, decoded.format), fh))
        stored.append(storage.save_bytes(storage.thumbnail_name(project.id, image_id), decoded.thumbnail_png))
        if decoded.pixel_size_um is not None:
            pixel_size, px_source = round(decoded.pixel_size_um, 6), "file"
        elif project.pixel_size_um is not None:
            pixel_size, px_source = project.pixel_size_um, "project"
        else:
            pixel_size, px_source = None, ""
        with transaction.atomic():
            # The quota again, serialised per user: concurrent uploads cannot both pass it.
            _lock_quota(uploader)
            used_now = storage_used(user_id=uploader)
            if used_now + size > quota:
                raise _QuotaExceeded(used_now)
            image = Image.objects.create(
                id=image_id, project=project, original_name=filename, storage_name=stored[0],
                thumbnail_name=stored[1], format=decoded.format, width=decoded.width, height=decoded.height,
                bit_depth=decoded.bit_depth, channels=decoded.channels, pages=decoded.pages,
                pixel_size_um=pixel_size, pixel_size_source=px_source, file_size=size, sha256=sha256,
                uploaded_by=uploader,
            )
            bus.publish(events.ImageUploaded(
                subject_id=str(image.id), project_id=str(project.id), actor_id=str(uploader),
                original_name=filename, sha256=sha256, file_size=size, width=image.width, height=image.height,
                source=source,
            ))
    except IntegrityError:
        storage.delete_quietly(stored)
        return _reject(filename, "duplicate", "The same file is already in this project.", 409,
                       existing_image_id=find_by_sha256(project_id=project.id, sha256=sha256))
    except _QuotaExceeded as exc:
        storage.delete_quietly(stored)
        return _quota_rejection(filename, size, exc.used, quota)
    except BaseException:
        storage.delete_quietly(stored)
        raise
    return UploadResult(filename=filename, outcome=UploadOutcome.ACCEPTED, status_code=201, image=image_info(image))


# --------------------------------------------------------------------------- images


def delete_image(*, actor_id, image_id) -> None:
    info, access = check_image_access(user_id=actor_id, image_id=image_id, action=Action.EDIT)
    _delete_images([info], actor_id=actor_id)


def _delete_images(infos: list[ImageInfo], *, actor_id) -> None:
    with transaction.atomic():
        deleted_ids = set()
        for info in infos:
            n, _ = Image.objects.filter(id=info.id).delete()
            if n:
                deleted_ids.add(info.id)
                bus.publish(events.ImageDeleted(subject_id=str(info.id), project_id=str(info.project_id),
                                                actor_id=_s(actor_id), original_name=info.original_name))
        names = [n for i in infos if i.id in deleted_ids for n in (i.storage_name, i.thumbnail_name)]
        transaction.on_commit(partial(storage.delete_quietly, names))
