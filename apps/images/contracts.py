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
    description: str = ""
    tags: tuple[str, ...] = ()
    updated_at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class ProjectSummary:
    """A project as one user sees it in a list: their role and the project's counts."""

    project: ProjectInfo
    role: Role
    image_count: int
    member_count: int


@dataclasses.dataclass(frozen=True)
class MemberInfo:
    project_id: uuid.UUID
    user_id: uuid.UUID
    role: Role
    email: str
    name: str
    added_at: dt.datetime


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
    format: str = ""  # "PNG", "JPEG", "TIFF", "BMP" (from decoding, never from the name)
    thumbnail_name: str = ""  # opaque storage key of the PNG thumbnail; open with open_thumbnail
    pixel_size_source: str = ""  # "file", "project" or "" (unknown)

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES.get(self.format, "application/octet-stream")


CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "TIFF": "image/tiff", "BMP": "image/bmp"}


@dataclasses.dataclass(frozen=True)
class ImageListItem:
    """One row of an image list: the image and its segmentation state (derived elsewhere)."""

    image: ImageInfo
    status: str  # apps.segmentation.contracts.ImageStatus value ("new" when unknown)
    progress: int = 0
    stage: str = ""
    object_count: int | None = None
    job_id: uuid.UUID | None = None
    error: str = ""


@dataclasses.dataclass(frozen=True)
class ImagePage:
    items: list[ImageListItem]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size)) if self.page_size else 1


class UploadOutcome(enum.StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclasses.dataclass(frozen=True)
class UploadResult:
    """What happened to one uploaded or imported file."""

    filename: str  # the original name, sanitised for display
    outcome: UploadOutcome
    status_code: int  # 201 when accepted, else the 4xx that fits the reason
    image: ImageInfo | None = None
    code: str = ""  # machine-readable reason: empty, truncated, not_an_image, too_large, ...
    detail: str = ""  # human-readable reason
    existing_image_id: uuid.UUID | None = None  # for code "duplicate"

    @property
    def accepted(self) -> bool:
        return self.outcome is UploadOutcome.ACCEPTED


class ImagesError(ValueError):
    """A request the images context refuses for a reason the user can fix (400/409)."""

    code = "invalid"
    status_code = 400

    def __init__(self, detail: str, *, code: str | None = None, status_code: int | None = None):
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
