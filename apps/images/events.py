"""Public events of the images context.

Every event carries ``actor_id`` (who did it), ``subject_id`` (the project, membership user or
image it is about) and ``project_id`` as strings. Published inside the transaction of the change;
after-commit subscribers see only committed changes.
"""

from __future__ import annotations

import dataclasses

from apps.common.events import Event


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProjectCreated(Event):
    name = "images.project.created"
    subject_type = "project"

    project_name: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProjectUpdated(Event):
    name = "images.project.updated"
    subject_type = "project"

    changed: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProjectDeleted(Event):
    """The project, its memberships, images and files are gone: delete what hangs on it."""

    name = "images.project.deleted"
    subject_type = "project"

    project_name: str = ""
    image_count: int = 0


@dataclasses.dataclass(frozen=True, kw_only=True)
class MemberAdded(Event):
    """``subject_id`` is the member's user id."""

    name = "images.member.added"
    subject_type = "user"

    role: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class MemberChanged(Event):
    """A role changed (also published twice by an ownership transfer)."""

    name = "images.member.changed"
    subject_type = "user"

    role: str = ""
    previous_role: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class MemberRemoved(Event):
    """Removed by the owner, or left (``actor_id == subject_id``)."""

    name = "images.member.removed"
    subject_type = "user"

    previous_role: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ImageUploaded(Event):
    name = "images.image.uploaded"
    subject_type = "image"

    original_name: str = ""
    sha256: str = ""
    file_size: int = 0
    width: int = 0
    height: int = 0
    source: str = "upload"  # "upload" (REST/pages) or "import" (manage.py import_images)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ImageDeleted(Event):
    name = "images.image.deleted"
    subject_type = "image"

    original_name: str = ""
