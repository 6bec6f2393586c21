"""What crosses the images boundary: plain frozen dataclasses and enums, stdlib only."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid


class Role(enum.StrEnum):
    OWNER = "owner"
    EDITOR = "editor"
    VIEWER = "viewer"


class Action(enum.StrEnum):
    """What a user wants to do in a project; ``check_access`` maps roles to actions."""

    VIEW = "view"  # read project, images, results, jobs, exports, websocket (viewer+)
    EDIT = "edit"  # upload, segment, edit outlines, delete images (editor+)
    MANAGE = "manage"  # members, project settings, delete the project (owner)


class ProjectNotFound(LookupError):
    """No such project, or the user is not a member (both answer 404: no existence leak)."""


class ImageNotFound(LookupError):
    """No such image, or the user is not a member of its project (404)."""


class AccessDenied(PermissionError):
    """The user is a member but their role does not allow the action (403)."""


@dataclasses.dataclass(frozen=True)
class ProjectAccess:
    project_id: uuid.UUID
    user_id: uuid.UUID
    role: Role


@dataclasses.dataclass(frozen=True)
class ProjectInfo:
    id: uuid.UUID
    name: str
    owner_id: uuid.UUID
    pixel_size_um: float | None
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    id: uuid.UUID
    project_id: uuid.UUID
    original_name: str
    width: int
    height: int
    bit_depth: int
    channels: int
    pages: int
    pixel_size_um: float | None  # from the file's metadata, else the project default
    file_size: int
    sha256: str
    storage_name: str  # opaque key for the storage API; open it with images.api.open_image
    uploaded_by: uuid.UUID
    created_at: dt.datetime
