"""Reads of the images context (no writes). Each function does a constant number of queries."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db.models import Count, IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from apps.images.contracts import (
    AccessDenied,
    Action,
    ImageInfo,
    ImageListItem,
    ImageNotFound,
    ImagePage,
    MemberInfo,
    ProjectAccess,
    ProjectInfo,
    ProjectNotFound,
    ProjectSummary,
    Role,
)
from apps.images.models import Image, Membership, Project

ROLE_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.OWNER: 3}
REQUIRED_ROLE = {Action.VIEW: Role.VIEWER, Action.EDIT: Role.EDITOR, Action.MANAGE: Role.OWNER}

#: ?ordering= values of the image list and the columns they sort by (id breaks ties).
IMAGE_ORDERINGS = {
    "created_at": "created_at",
    "name": "original_name",
    "file_size": "file_size",
    "width": "width",
    "height": "height",
}
DEFAULT_IMAGE_ORDERING = "-created_at"


def as_uuid(value, not_found: type[LookupError]) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise not_found(str(value)) from None


def allows(role: Role, action: Action) -> bool:
    return ROLE_RANK[Role(role)] >= ROLE_RANK[REQUIRED_ROLE[Action(action)]]


# --------------------------------------------------------------------------- permission


def check_access(*, user_id, project_id, action: Action) -> ProjectAccess:
    pid = as_uuid(project_id, ProjectNotFound)
    uid = as_uuid(user_id, ProjectNotFound) if user_id is not None else None
    if uid is None:
        raise ProjectNotFound(str(pid))
    role = Membership.objects.filter(project_id=pid, user_id=uid).values_list("role", flat=True).first()
    if role is None:
        raise ProjectNotFound(str(pid))
    if not allows(Role(role), action):
        raise AccessDenied(f"Your role ({role}) does not allow this ({Action(action).value}).")
    return ProjectAccess(project_id=pid, user_id=uid, role=Role(role))


def check_image_access(*, user_id, image_id, action: Action) -> tuple[ImageInfo, ProjectAccess]:
    iid = as_uuid(image_id, ImageNotFound)
    if user_id is None:
        raise ImageNotFound(str(iid))
    uid = as_uuid(user_id, ImageNotFound)
    role_sq = Membership.objects.filter(project_id=OuterRef("project_id"), user_id=uid).values("role")[:1]
    image = Image.objects.filter(id=iid).annotate(member_role=Subquery(role_sq)).first()
    if image is None or image.member_role is None:
        raise ImageNotFound(str(iid))
    role = Role(image.member_role)
    if not allows(role, action):
        raise AccessDenied(f"Your role ({role.value}) does not allow this ({Action(action).value}).")
    return image_info(image), ProjectAccess(project_id=image.project_id, user_id=uid, role=role)


# --------------------------------------------------------------------------- conversions


def project_info(p: Project) -> ProjectInfo:
    return ProjectInfo(
        id=p.id,
        name=p.name,
        owner_id=p.owner_id,
        pixel_size_um=p.pixel_size_um,
        created_at=p.created_at,
        description=p.description,
        tags=tuple(p.tags or ()),
        updated_at=p.updated_at,
    )


def image_info(i: Image) -> ImageInfo:
    return ImageInfo(
        id=i.id,
        project_id=i.project_id,
        original_name=i.original_name,
        width=i.width,
        height=i.height,
        bit_depth=i.bit_depth,
        channels=i.channels,
        pages=i.pages,
        pixel_size_um=i.pixel_size_um,
        file_size=i.file_size,
        sha256=i.sha256,
        storage_name=i.storage_name,
        uploaded_by=i.uploaded_by,
        created_at=i.created_at,
        format=i.format,
        thumbnail_name=i.thumbnail_name,
        pixel_size_source=i.pixel_size_source,
    )


# --------------------------------------------------------------------------- projects


def _valid_ids(ids: Iterable) -> set[uuid.UUID]:
    """The well-formed ids among ``ids`` (malformed ones name nothing and are dropped)."""
    wanted = set()
    for i in ids:
        try:
            wanted.add(as_uuid(i, LookupError))
        except LookupError:
            continue
    return wanted


def get_projects(*, ids: Iterable) -> dict[uuid.UUID, ProjectInfo]:
    wanted = _valid_ids(ids)
    return {p.id: project_info(p) for p in Project.objects.filter(id__in=wanted)} if wanted else {}


def get_project(*, project_id) -> ProjectInfo:
    pid = as_uuid(project_id, ProjectNotFound)
    project = Project.objects.filter(id=pid).first()
    if project is None:
        raise ProjectNotFound(str(pid))
    return project_info(project)


def _image_count_sq():
    return Coalesce(
        Subquery(
            Image.objects.filter(project_id=OuterRef("project_id"))
            .order_by()
            .values("project_id")
            .annotate(n=Count("id"))
            .values("n")[:1],
            output_field=IntegerField(),
        ),
        Value(0),
    )


def _member_count_sq():
    return Coalesce(
        Subquery(
            Membership.objects.filter(project_id=OuterRef("project_id"))
            .order_by()
            .values("project_id")
            .annotate(n=Count("id"))
            .values("n")[:1],
            output_field=IntegerField(),
        ),
        Value(0),
    )


def _summaries(memberships) -> list[ProjectSummary]:
    rows = memberships.select_related("project").annotate(
        image_count=_image_count_sq(), member_count=_member_count_sq()
    )
    return [
        ProjectSummary(
            project=project_info(m.project),
            role=Role(m.role),
            image_count=m.image_count,
            member_count=m.member_count,
        )
        for m in rows
    ]


def list_projects_for_user(*, user_id, search: str = "") -> list[ProjectSummary]:
    """Projects the user belongs to (owned or shared), newest activity first, in one query."""
    uid = as_uuid(user_id, ProjectNotFound)
    qs = Membership.objects.filter(user_id=uid).order_by("-project__updated_at", "-project__created_at")
    if search:
        qs = qs.filter(project__name__icontains=search)
    return _summaries(qs)


def project_summary(*, user_id, project_id) -> ProjectSummary:
    """One project as the user sees it (raises ProjectNotFound for non-members)."""
    uid = as_uuid(user_id, ProjectNotFound)
    pid = as_uuid(project_id, ProjectNotFound)
    found = _summaries(Membership.objects.filter(user_id=uid, project_id=pid))
    if not found:
        raise ProjectNotFound(str(pid))
    return found[0]


def member_project_ids(*, user_id) -> list[uuid.UUID]:
    uid = as_uuid(user_id, ProjectNotFound)
    return list(Membership.objects.filter(user_id=uid).values_list("project_id", flat=True))


def project_member_ids(*, project_id) -> list[uuid.UUID]:
    pid = as_uuid(project_id, ProjectNotFound)
    return list(Membership.objects.filter(project_id=pid).values_list("user_id", flat=True))


def list_members(*, project_id) -> list[MemberInfo]:
    """Members with e-mail and name (one query here, one batch query in accounts); owner first."""
    from apps.accounts import api as accounts_api

    pid = as_uuid(project_id, ProjectNotFound)
    rows = list(Membership.objects.filter(project_id=pid).order_by("created_at"))
    users = accounts_api.get_users(ids=[m.user_id for m in rows])
    members = [
        MemberInfo(
            project_id=pid,
            user_id=m.user_id,
            role=Role(m.role),
            email=users[m.user_id].email if m.user_id in users else "",
            name=users[m.user_id].name if m.user_id in users else "",
            added_at=m.created_at,
        )
        for m in rows
    ]
    members.sort(key=lambda m: -ROLE_RANK[m.role])  # stable: owner, editors, viewers
    return members


# --------------------------------------------------------------------------- images


def get_images(*, ids: Iterable) -> dict[uuid.UUID, ImageInfo]:
    wanted = _valid_ids(ids)
    return {i.id: image_info(i) for i in Image.objects.filter(id__in=wanted)} if wanted else {}


def get_image(*, image_id) -> ImageInfo:
    iid = as_uuid(image_id, ImageNotFound)
    image = Image.objects.filter(id=iid).first()
    if image is None:
        raise ImageNotFound(str(iid))
    return image_info(image)


def list_project_image_ids(*, project_id) -> list[uuid.UUID]:
    pid = as_uuid(project_id, ProjectNotFound)
    return list(Image.objects.filter(project_id=pid).order_by("created_at", "id").values_list("id", flat=True))


def storage_used(*, user_id) -> int:
    """Bytes of originals uploaded by this user (what the quota counts)."""
    uid = as_uuid(user_id, ProjectNotFound)
    return Image.objects.filter(uploaded_by=uid).aggregate(total=Coalesce(Sum("file_size"), 0))["total"]


def find_by_sha256(*, project_id, sha256: str) -> uuid.UUID | None:
    return Image.objects.filter(project_id=project_id, sha256=sha256).values_list("id", flat=True).first()


def _segmentation_states(image_ids: list[uuid.UUID]) -> dict:
    """Statuses are derived by the segmentation context; empty until its api provides them."""
    if not image_ids:
        return {}
    from apps.segmentation import api as segmentation_api

    getter = getattr(segmentation_api, "get_image_states", None)
    if getter is None:
        return {}
    return getter(image_ids=image_ids)


def _status_filter(project_id: uuid.UUID, status: str):
    """A predicate on image ids: has the image the derived segmentation ``status``?"""
    from apps.segmentation import api as segmentation_api
    from apps.segmentation.contracts import ImageStatus

    wanted = ImageStatus(status)
    statuses = segmentation_api.project_image_statuses(project_id=project_id)
    return lambda image_id: statuses.get(image_id, ImageStatus.NEW) == wanted


def image_statuses() -> list[str]:
    from apps.segmentation.contracts import ImageStatus

    return [s.value for s in ImageStatus]


def list_images(
    *,
    project_id,
    status: str | None = None,
    search: str = "",
    ordering: str = DEFAULT_IMAGE_ORDERING,
    page: int = 1,
    page_size: int = 50,
) -> ImagePage:
    """One page of a project's images with their segmentation state.

    Constant number of queries whatever the project size: a count, the page, and the
    segmentation context's batch lookups (one for the status filter, one for the states).
    With a status filter the matching ids are intersected in Python with the project's ordered
    ids: no SQL statement carries one bound parameter per image (10,000 of them cost hundreds
    of milliseconds to bind and parse).
    """
    pid = as_uuid(project_id, ProjectNotFound)
    qs = Image.objects.filter(project_id=pid)
    if search:
        qs = qs.filter(original_name__icontains=search.strip())
    desc = ordering.startswith("-")
    column = IMAGE_ORDERINGS.get(ordering.lstrip("-"), "created_at")
    order = [f"-{column}", "-id"] if desc else [column, "id"]
    page = max(1, int(page))
    page_size = max(1, int(page_size))
    start = (page - 1) * page_size
    wanted = _status_filter(pid, status) if status else None
    if wanted is None:
        total = qs.count()
        rows = [image_info(i) for i in qs.order_by(*order)[start : start + page_size]] if start < total else []
    else:
        matching = [i for i in qs.order_by(*order).values_list("id", flat=True) if wanted(i)]
        total = len(matching)
        page_ids = matching[start : start + page_size]
        by_id = {i.id: i for i in Image.objects.filter(id__in=page_ids)} if page_ids else {}
        rows = [image_info(by_id[i]) for i in page_ids if i in by_id]
    items = _list_items(rows)
    return ImagePage(items=items, total=total, page=page, page_size=page_size)


def _list_items(rows: list[ImageInfo]) -> list[ImageListItem]:
    states = _segmentation_states([r.id for r in rows])
    items = []
    for info in rows:
        st = states.get(info.id)
        if st is None:
            items.append(ImageListItem(image=info, status="new"))
        else:
            items.append(
                ImageListItem(
                    image=info,
                    status=str(getattr(st.status, "value", st.status)),
                    progress=st.progress,
                    stage=st.stage,
                    object_count=st.object_count,
                    job_id=st.job_id,
                    error=st.error,
                )
            )
    return items


def image_list_item(*, image: ImageInfo) -> ImageListItem:
    return _list_items([image])[0]
