"""Public api of the images context: keyword-only functions, ids and contracts in and out.

Permission: :func:`check_access` is THE permission function of the product, used by every
door of every context (REST, pages, websockets, file downloads, exports):

* ``Action.VIEW``: viewer, editor, owner;  ``Action.EDIT``: editor, owner;  ``Action.MANAGE``: owner.
* raises :class:`ProjectNotFound` when the project does not exist **or** the user is not a
  member (answer 404: no existence leak), :class:`AccessDenied` when the member's role is
  too small (answer 403).

Getters (``get_project``, ``get_image``) raise ``ProjectNotFound`` / ``ImageNotFound`` for a
missing id; batch getters (``get_projects``, ``get_images``) leave missing ids out and run
one query whatever the number of ids. Writes take the acting user's id and check permission
themselves; they raise ``ImagesError`` (``.code``, ``.status_code``, ``.detail``) for requests
the user can fix.
"""

from __future__ import annotations

import uuid
from typing import BinaryIO

from apps.images import selectors, services
from apps.images import storage as _storage
from apps.images.contracts import (
    AccessDenied,
    Action,
    ImageInfo,
    ImageListItem,
    ImageNotFound,
    ImagePage,
    ImagesError,
    MemberInfo,
    ProjectAccess,
    ProjectInfo,
    ProjectNotFound,
    ProjectSummary,
    Role,
    UploadResult,
)
from apps.images.services import UploadInput

__all__ = [
    "AccessDenied", "Action", "ImageNotFound", "ImagesError", "ProjectNotFound", "Role", "UploadInput",
    "check_access", "check_image_access", "get_project", "get_projects", "get_image", "get_images",
    "list_project_image_ids", "member_project_ids", "project_member_ids", "list_projects_for_user",
    "get_project_summary", "list_members", "list_images", "get_image_list_item", "image_statuses", "image_orderings", "open_image",
    "open_thumbnail", "storage_used", "create_project", "update_project", "delete_project", "add_member",
    "change_member_role", "remove_member", "leave_project", "transfer_ownership", "upload_images",
    "delete_image",
]

# --------------------------------------------------------------------------- permission


def check_access(*, user_id: uuid.UUID | str | None, project_id: uuid.UUID | str, action: Action) -> ProjectAccess:
    """The user's access to the project for ``action`` (see the module docstring)."""
    return selectors.check_access(user_id=user_id, project_id=project_id, action=action)


def check_image_access(
    *, user_id: uuid.UUID | str | None, image_id: uuid.UUID | str, action: Action
) -> tuple[ImageInfo, ProjectAccess]:
    """Like :func:`check_access` for the image's project; non-members get ``ImageNotFound``."""
    return selectors.check_image_access(user_id=user_id, image_id=image_id, action=action)


# --------------------------------------------------------------------------- reads


def get_project(*, project_id: uuid.UUID | str) -> ProjectInfo:
    return selectors.get_project(project_id=project_id)


def get_projects(*, ids) -> dict[uuid.UUID, ProjectInfo]:
    return selectors.get_projects(ids=ids)


def get_image(*, image_id: uuid.UUID | str) -> ImageInfo:
    return selectors.get_image(image_id=image_id)


def get_images(*, ids) -> dict[uuid.UUID, ImageInfo]:
    return selectors.get_images(ids=ids)


def list_project_image_ids(*, project_id: uuid.UUID | str) -> list[uuid.UUID]:
    """Every image id of the project, oldest first."""
    return selectors.list_project_image_ids(project_id=project_id)


def member_project_ids(*, user_id: uuid.UUID | str) -> list[uuid.UUID]:
    return selectors.member_project_ids(user_id=user_id)


def project_member_ids(*, project_id: uuid.UUID | str) -> list[uuid.UUID]:
    return selectors.project_member_ids(project_id=project_id)


def list_projects_for_user(*, user_id: uuid.UUID | str, search: str = "") -> list[ProjectSummary]:
    """The user's projects (owned or shared) with their role, image and member counts: one query."""
    return selectors.list_projects_for_user(user_id=user_id, search=search)


def get_project_summary(*, user_id: uuid.UUID | str, project_id: uuid.UUID | str) -> ProjectSummary:
    """One project as this user sees it (role, counts); ``ProjectNotFound`` for non-members."""
    return selectors.project_summary(user_id=user_id, project_id=project_id)


def list_members(*, project_id: uuid.UUID | str) -> list[MemberInfo]:
    """Members with e-mail and name, owner first (call check_access first)."""
    return selectors.list_members(project_id=project_id)


def list_images(
    *,
    project_id: uuid.UUID | str,
    status: str | None = None,
    search: str = "",
    ordering: str = selectors.DEFAULT_IMAGE_ORDERING,
    page: int = 1,
    page_size: int = 50,
) -> ImagePage:
    """One page of the project's images with their segmentation status (call check_access first).

    ``status``: one of :func:`image_statuses`; ``search``: substring of the original name;
    ``ordering``: one of :func:`image_orderings`, ``-`` prefix for descending.
    """
    return selectors.list_images(
        project_id=project_id, status=status, search=search, ordering=ordering, page=page, page_size=page_size
    )


def get_image_list_item(*, image: ImageInfo) -> ImageListItem:
    """The image with its segmentation state (status, progress, stage, object count)."""
    return selectors.image_list_item(image=image)


def image_statuses() -> list[str]:
    return selectors.image_statuses()


def image_orderings() -> list[str]:
    return [o for k in selectors.IMAGE_ORDERINGS for o in (k, f"-{k}")]


def storage_used(*, user_id: uuid.UUID | str) -> int:
    """Bytes counted against the user's quota (settings.USER_STORAGE_QUOTA_BYTES)."""
    return selectors.storage_used(user_id=user_id)


def open_image(*, image_id: uuid.UUID | str, image: ImageInfo | None = None) -> BinaryIO:
    """The original file, opened for binary reading from storage (close it when done).
    Pass ``image`` when it was just read (``get_image``) to skip reading its row again.

    No permission check: callers (the segmentation worker, exports) checked it already.
    """
    info = image if image is not None and str(image.id) == str(image_id) else selectors.get_image(image_id=image_id)
    return _storage.open_file(info.storage_name)


def open_thumbnail(*, image_id: uuid.UUID | str) -> BinaryIO:
    """The PNG thumbnail (contrast-stretched, longest side 256 px), opened for binary reading."""
    info = selectors.get_image(image_id=image_id)
    if not info.thumbnail_name:
        raise ImageNotFound(str(info.id))
    return _storage.open_file(info.thumbnail_name)


# --------------------------------------------------------------------------- writes


def create_project(
    *, actor_id: uuid.UUID | str, name: str, description: str = "", tags=(), pixel_size_um: float | None = None
) -> ProjectInfo:
    return services.create_project(
        actor_id=actor_id, name=name, description=description, tags=tags, pixel_size_um=pixel_size_um
    )


def update_project(*, actor_id: uuid.UUID | str, project_id: uuid.UUID | str, **changes) -> ProjectInfo:
    """Owner only; ``changes`` among name, description, tags, pixel_size_um."""
    return services.update_project(actor_id=actor_id, project_id=project_id, **changes)


def delete_project(*, actor_id: uuid.UUID | str, project_id: uuid.UUID | str) -> None:
    """Owner only; deletes images and files and publishes ``images.project.deleted``."""
    services.delete_project(actor_id=actor_id, project_id=project_id)


def add_member(*, actor_id, project_id, email: str, role: Role | str = Role.VIEWER) -> MemberInfo:
    return services.add_member(actor_id=actor_id, project_id=project_id, email=email, role=role)


def change_member_role(*, actor_id, project_id, user_id, role: Role | str) -> MemberInfo:
    return services.change_member_role(actor_id=actor_id, project_id=project_id, user_id=user_id, role=role)


def remove_member(*, actor_id, project_id, user_id) -> None:
    services.remove_member(actor_id=actor_id, project_id=project_id, user_id=user_id)


def leave_project(*, actor_id, project_id) -> None:
    services.leave_project(actor_id=actor_id, project_id=project_id)


def transfer_ownership(*, actor_id, project_id, new_owner_id) -> MemberInfo:
    return services.transfer_ownership(actor_id=actor_id, project_id=project_id, new_owner_id=new_owner_id)


def upload_images(*, actor_id, project_id, files: list[UploadInput]) -> list[UploadResult]:
    """Validate and store files (editor+). One result per file; rejected files leave nothing."""
    return services.upload_images(actor_id=actor_id, project_id=project_id, files=files)


def delete_image(*, actor_id, image_id) -> None:
    """Editor+; deletes the record and its files and publishes ``images.image.deleted``."""
    services.delete_image(actor_id=actor_id, image_id=image_id)
