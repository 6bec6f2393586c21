"""Server-rendered pages of the images context: dashboard, project (gallery), members, exports, charts.

Thin views: parse, check permission with ``apps.images.api.check_access`` (non-members get
404, members whose role is too small 403), call the contexts' public api, render. The
browser's JavaScript (static/js/) talks to the REST API for uploads, segmentation and
deletion; the forms here (create a project, members) are plain POST forms with CSRF.
"""

from __future__ import annotations

import uuid
from collections import Counter

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.images import api, imaging
from apps.images.contracts import AccessDenied, Action, ImageNotFound, ImagesError, ProjectNotFound, Role
from apps.images.http import charts
from apps.segmentation import api as segmentation_api

GALLERY_PAGE_SIZE = 48
PREVIEW_MAX_SIDE = 4096
STATUS_LABELS = {
    "new": gettext_lazy("Not segmented"),
    "queued": gettext_lazy("Queued"),
    "running": gettext_lazy("Running"),
    "done": gettext_lazy("Done"),
    "failed": gettext_lazy("Failed"),
}
ORDERING_LABELS = {
    "-created_at": gettext_lazy("Newest first"),
    "created_at": gettext_lazy("Oldest first"),
    "name": gettext_lazy("Name A-Z"),
    "-name": gettext_lazy("Name Z-A"),
    "-file_size": gettext_lazy("Largest file first"),
}
EXPORT_FORMATS = [
    ("csv", gettext_lazy("CSV"), gettext_lazy("One row per object with every measurement (px and µm).")),
    ("xlsx", gettext_lazy("Excel"), gettext_lazy("Workbook with an objects sheet and a per-image summary.")),
    ("coco", gettext_lazy("COCO JSON"), gettext_lazy("Instance segmentation annotations for training.")),
    ("geojson", gettext_lazy("GeoJSON"), gettext_lazy("Outlines as polygons with holes, in image pixels.")),
    ("masks", gettext_lazy("Label masks"), gettext_lazy("A ZIP of 16-bit label PNGs, one per image.")),
    ("imagej", gettext_lazy("ImageJ ROIs"), gettext_lazy("A ZIP of ROI sets to open in ImageJ / Fiji.")),
    ("csv&table=summary", gettext_lazy("CSV summary"), gettext_lazy("One row per image: object count and mean sizes.")),
    ("archive", gettext_lazy("Full archive"),
     gettext_lazy("Originals, thumbnails, every format and a manifest with SHA-256 checksums.")),
]


# --------------------------------------------------------------------------- helpers


def _access(request, project_id, action: Action):
    try:
        return api.check_access(user_id=request.user.id, project_id=project_id, action=action)
    except ProjectNotFound:
        raise Http404(_("Project not found.")) from None
    except AccessDenied:
        raise PermissionDenied(_("Your role in this project does not allow this.")) from None


def _progress_by_project(project_ids: list[uuid.UUID]) -> dict[uuid.UUID, Counter]:
    """Counts of image statuses per project (one batch status lookup for every image)."""
    image_ids: dict[uuid.UUID, list[uuid.UUID]] = {
        pid: api.list_project_image_ids(project_id=pid) for pid in project_ids
    }
    states = segmentation_api.get_image_states(image_ids=[i for ids in image_ids.values() for i in ids])
    out: dict[uuid.UUID, Counter] = {}
    for pid, ids in image_ids.items():
        counts: Counter = Counter()
        for i in ids:
            st = states.get(i)
            counts[str(st.status) if st else "new"] += 1
        out[pid] = counts
    return out


def _progress_view(counts: Counter, total: int) -> dict:
    done = counts.get("done", 0)
    return {
        "total": total,
        "done": done,
        "active": counts.get("queued", 0) + counts.get("running", 0),
        "failed": counts.get("failed", 0),
        "new": counts.get("new", 0),
        "percent": round(100 * done / total) if total else 0,
    }


class ProjectForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Project name"), max_length=200)
    description = forms.CharField(label=gettext_lazy("Description"), required=False, max_length=10_000,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    pixel_size_um = forms.FloatField(
        label=gettext_lazy("Pixel size (µm per pixel)"), required=False, min_value=1e-6, max_value=10_000,
        help_text=gettext_lazy("Optional: used for the µm measurements when an image does not say."),
    )


class InviteForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("E-mail address"))
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=[
        (Role.VIEWER.value, gettext_lazy("Viewer (read only)")),
        (Role.EDITOR.value, gettext_lazy("Editor (upload, segment, edit)")),
    ])


# --------------------------------------------------------------------------- dashboard


@login_required
@require_http_methods(["GET", "POST"])
def dashboard(request):
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = api.create_project(actor_id=request.user.id, **form.cleaned_data)
        except ImagesError as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(request, _("Project “%(name)s” created.") % {"name": project.name})
            return redirect("project-page", project_id=project.id)
    search = request.GET.get("q", "").strip()[:200]
    summaries = api.list_projects_for_user(user_id=request.user.id, search=search)
    progress = _progress_by_project([s.project.id for s in summaries])
    rows = [{"summary": s, "progress": _progress_view(progress.get(s.project.id, Counter()), s.image_count)}
            for s in summaries]
    mine = [r for r in rows if r["summary"].role == Role.OWNER]
    shared = [r for r in rows if r["summary"].role != Role.OWNER]
    # Recent activity: the latest uploads of the most recently changed projects, with their state.
    recent_projects = sorted(summaries, key=lambda s: s.project.updated_at or s.project.created_at, reverse=True)[:8]
    activity = []
    for s in recent_projects:
        page = api.list_images(project_id=s.project.id, ordering="-created_at", page_size=5)
        activity += [{"item": item, "project": s.project} for item in page.items]
    activity.sort(key=lambda a: a["item"].image.created_at, reverse=True)
    totals = Counter()
    for r in rows:
        for key in ("total", "done", "active", "failed"):
            totals[key] += r["progress"][key]
    return render(request, "images/dashboard.html", {
        "form": form, "mine": mine, "shared": shared, "search": search, "activity": activity[:10],
        "totals": totals, "project_count": len(rows), "status_labels": STATUS_LABELS,
        "open_create": request.method == "POST" or not rows,
    })


# --------------------------------------------------------------------------- project page


def _positive_int(raw, default: int) -> int:
    try:
        return max(1, int(raw))
    except (TypeError, ValueError):
        return default


@login_required
@require_GET
def project_page(request, project_id):
    access = _access(request, project_id, Action.VIEW)
    summary = api.get_project_summary(user_id=request.user.id, project_id=access.project_id)
    status = request.GET.get("status", "")
    status = status if status in api.image_statuses() else ""
    search = request.GET.get("q", "").strip()[:200]
    ordering = request.GET.get("ordering", "-created_at")
    ordering = ordering if ordering in ORDERING_LABELS else "-created_at"
    page_no = _positive_int(request.GET.get("page"), 1)
    page = api.list_images(project_id=access.project_id, status=status or None, search=search, ordering=ordering,
                           page=page_no, page_size=GALLERY_PAGE_SIZE)
    counts = _progress_by_project([access.project_id])[access.project_id]
    can_edit = access.role in (Role.OWNER, Role.EDITOR)
    can_manage = access.role == Role.OWNER
    models = segmentation_api.list_models() if can_edit else []
    members = api.list_members(project_id=access.project_id)
    query = request.GET.copy()
    query.pop("page", None)
    config = {
        "projectId": str(access.project_id),
        "canEdit": can_edit,
        "wsPath": f"/ws/projects/{access.project_id}/",
        "imagesUrl": reverse("v1:project-images", args=[access.project_id]),
        "segmentUrl": f"/api/v1/projects/{access.project_id}/segment/",
        "imageApi": "/api/v1/images/",
        "imagePage": "/images/",
        "exportUrl": f"/api/v1/projects/{access.project_id}/export/",
        "statusLabels": {k: str(v) for k, v in STATUS_LABELS.items()},
        "strings": {
            "queuedAt": _("Queued · #%(pos)s"),
            "queued": _("Queued"),
            "running": _("Running · %(pct)s%%"),
            "failed": _("Failed"),
            "done": _("Done"),
            "objects": _("%(n)s objects"),
            "uploading": _("Uploading…"),
            "uploaded": _("Uploaded"),
            "uploadFailed": _("Upload failed"),
            "networkError": _("Network error: the server could not be reached."),
            "confirmDelete": _("Delete %(n)s selected image(s) with their outlines? This cannot be undone."),
            "selected": _("%(n)s selected"),
            "segmentStarted": _("Segmentation queued for %(n)s image(s)."),
            "deleted": _("%(n)s image(s) deleted."),
            "requestFailed": _("The request failed"),
            "live": _("Live updates on"),
            "offline": _("Live updates reconnecting…"),
        },
    }
    return render(request, "images/project.html", {
        "summary": summary, "project": summary.project, "access": access, "page": page, "items": page.items,
        "status": status, "search": search, "ordering": ordering, "orderings": ORDERING_LABELS,
        "status_labels": STATUS_LABELS,
        "status_options": [(k, label, counts.get(k, 0)) for k, label in STATUS_LABELS.items()], "progress": _progress_view(counts, summary.image_count),
        "can_edit": can_edit, "can_manage": can_manage, "models": models, "members": members,
        "invite_form": InviteForm(), "roles": [r.value for r in Role], "config": config,
        "query": query.urlencode(), "export_formats": EXPORT_FORMATS,
        "page_numbers": range(1, page.pages + 1) if page.pages <= 20 else None,
    })


@login_required
@require_POST
def project_members(request, project_id):
    """Invite, change a role or remove a member (owner), or leave (any member); then back to the dialog."""
    op = request.POST.get("op", "")
    back = reverse("project-page", args=[project_id]) + "#members"
    if op == "leave":
        access = _access(request, project_id, Action.VIEW)
        try:
            api.leave_project(actor_id=request.user.id, project_id=access.project_id)
        except ImagesError as exc:
            messages.error(request, exc.detail)
            return redirect(back)
        messages.success(request, _("You left the project."))
        return redirect("dashboard")
    access = _access(request, project_id, Action.MANAGE)
    try:
        if op == "invite":
            form = InviteForm(request.POST)
            if not form.is_valid():
                for errors in form.errors.values():
                    for error in errors:
                        messages.error(request, error)
                return redirect(back)
            member = api.add_member(actor_id=request.user.id, project_id=access.project_id, **form.cleaned_data)
            messages.success(request, _("%(email)s was added as %(role)s.") % {"email": member.email, "role": member.role})
        elif op == "role":
            member = api.change_member_role(actor_id=request.user.id, project_id=access.project_id,
                                            user_id=request.POST.get("user_id", ""), role=request.POST.get("role", ""))
            messages.success(request, _("%(email)s is now %(role)s.") % {"email": member.email, "role": member.role})
        elif op == "remove":
            api.remove_member(actor_id=request.user.id, project_id=access.project_id,
                              user_id=request.POST.get("user_id", ""))
            messages.success(request, _("The member was removed."))
        else:
            messages.error(request, _("Unknown action."))
    except ImagesError as exc:
        messages.error(request, exc.detail)
    except (ProjectNotFound, LookupError, ValueError):
        messages.error(request, _("No such member."))
    return redirect(back)


@login_required
@require_POST
def project_settings(request, project_id):
    """Owner: rename / describe / pixel size, or delete the project."""
    access = _access(request, project_id, Action.MANAGE)
    if request.POST.get("op") == "delete":
        api.delete_project(actor_id=request.user.id, project_id=access.project_id)
        messages.success(request, _("The project was deleted."))
        return redirect("dashboard")
    form = ProjectForm(request.POST)
    if form.is_valid():
        try:
            api.update_project(actor_id=request.user.id, project_id=access.project_id, **form.cleaned_data)
            messages.success(request, _("Project settings saved."))
        except ImagesError as exc:
            messages.error(request, exc.detail)
    else:
        messages.error(request, _("Please correct the project settings."))
    return redirect("project-page", project_id=access.project_id)


# --------------------------------------------------------------------------- exports and charts


@login_required
@require_GET
def project_exports(request, project_id):
    access = _access(request, project_id, Action.VIEW)
    summary = api.get_project_summary(user_id=request.user.id, project_id=access.project_id)
    counts = _progress_by_project([access.project_id])[access.project_id]
    base = f"/api/v1/projects/{access.project_id}/export/"
    formats = [{"key": k, "label": label, "help": help_text, "url": f"{base}?format={k}"}
               for k, label, help_text in EXPORT_FORMATS]
    return render(request, "images/exports.html", {
        "summary": summary, "project": summary.project, "formats": formats,
        "progress": _progress_view(counts, summary.image_count),
    })


@login_required
@require_GET
def project_charts(request, project_id):
    access = _access(request, project_id, Action.VIEW)
    summary = api.get_project_summary(user_id=request.user.id, project_id=access.project_id)
    image_ids = api.list_project_image_ids(project_id=access.project_id)
    images = api.get_images(ids=image_ids)
    results = segmentation_api.get_latest_results(image_ids=image_ids)
    data = charts.project_charts(images=[images[i] for i in image_ids if i in images], results=results)
    return render(request, "images/charts.html", {"summary": summary, "project": summary.project, **data})


# --------------------------------------------------------------------------- image preview for the viewer


@login_required
@require_GET
def image_preview(request, image_id):
    """A browser-displayable rendition of the original for the viewer (full size up to 4096 px).

    PNG / JPEG / BMP with 8-bit samples are streamed unchanged; anything else (16-bit, TIFF,
    multi-page) is decoded by the one image reader and contrast-stretched to an 8-bit PNG.
    """
    try:
        info, _access_ = api.check_image_access(user_id=request.user.id, image_id=image_id, action=Action.VIEW)
    except (ImageNotFound, ProjectNotFound):
        raise Http404(_("Image not found.")) from None
    etag = f'"{info.sha256}-p"'
    if request.headers.get("If-None-Match") == etag:
        return HttpResponse(status=304)
    if info.format in ("PNG", "JPEG", "BMP") and info.bit_depth <= 8 and max(info.width, info.height) <= PREVIEW_MAX_SIDE:
        response = FileResponse(api.open_image(image_id=info.id), content_type=info.content_type)
    else:
        with api.open_image(image_id=info.id) as fh:
            array, _meta = imaging.mlio.read_image(fh, max_pixels=max(info.width * info.height, 1))
        png = imaging.thumbnail_png(array, size=min(PREVIEW_MAX_SIDE, max(info.width, info.height)))
        response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    response["ETag"] = etag
    response["X-Content-Type-Options"] = "nosniff"
    return response
