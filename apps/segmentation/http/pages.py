"""Server-rendered pages of the segmentation context: the image page (viewer and editor) and models.

Thin views: check membership with ``apps.images.api`` (non-members get 404), call the public
api, render. The viewer/editor (static/js/image.js) reads and saves outlines through the REST
API (GET/PUT /api/v1/images/{id}/segmentation/ with ``base_version``, versions, restore).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from apps.images import api as images_api
from apps.images.contracts import Action, ImageNotFound, ProjectNotFound, Role
from apps.segmentation import api

STATUS_LABELS = {
    "new": gettext_lazy("Not segmented"),
    "queued": gettext_lazy("Queued"),
    "running": gettext_lazy("Running"),
    "done": gettext_lazy("Done"),
    "failed": gettext_lazy("Failed"),
}
METRIC_COLUMNS = [
    # (key in px, key in µm, label, unit px, unit µm); the metrics come from the server (ml.metrics)
    ("area_px", "area_um2", gettext_lazy("Area"), "px²", "µm²"),
    ("equivalent_diameter_px", "equivalent_diameter_um", gettext_lazy("Eq. diameter"), "px", "µm"),
    ("circularity", None, gettext_lazy("Circularity"), "", ""),
    ("solidity", None, gettext_lazy("Solidity"), "", ""),
    ("feret_max_px", "feret_max_um", gettext_lazy("Feret max"), "px", "µm"),
    ("feret_min_px", "feret_min_um", gettext_lazy("Feret min"), "px", "µm"),
    ("perimeter_px", "perimeter_um", gettext_lazy("Perimeter"), "px", "µm"),
    ("eccentricity", None, gettext_lazy("Eccentricity"), "", ""),
]


@login_required
@ensure_csrf_cookie
@require_GET
def image_page(request, image_id):
    try:
        image, access = images_api.check_image_access(user_id=request.user.id, image_id=image_id, action=Action.VIEW)
    except (ImageNotFound, ProjectNotFound):
        raise Http404(_("Image not found.")) from None
    project = images_api.get_project(project_id=image.project_id)
    state = api.get_image_states(image_ids=[image.id]).get(image.id)
    can_edit = access.role in (Role.OWNER, Role.EDITOR)
    neighbours = images_api.list_project_image_ids(project_id=image.project_id)
    index = neighbours.index(image.id) if image.id in neighbours else 0
    prev_id = neighbours[index - 1] if index > 0 else None
    next_id = neighbours[index + 1] if index + 1 < len(neighbours) else None
    config = {
        "imageId": str(image.id),
        "projectId": str(image.project_id),
        "width": image.width,
        "height": image.height,
        "pixelSizeUm": image.pixel_size_um,
        "canEdit": can_edit,
        "previewUrl": f"/images/{image.id}/preview/",
        "segmentationUrl": f"/api/v1/images/{image.id}/segmentation/",
        "versionsUrl": f"/api/v1/images/{image.id}/segmentation/versions/",
        "segmentUrl": f"/api/v1/images/{image.id}/segment/",
        "wsPath": f"/ws/projects/{image.project_id}/",
        "metricColumns": [
            {"px": px, "um": um, "label": str(label), "unitPx": upx, "unitUm": uum}
            for px, um, label, upx, uum in METRIC_COLUMNS
        ],
        "strings": _strings(),
    }
    return render(request, "segmentation/image.html", {
        "image": image, "project": project, "access": access, "state": state, "can_edit": can_edit,
        "models": api.list_models() if can_edit else [], "config": config, "prev_id": prev_id, "next_id": next_id,
        "position": index + 1, "total": len(neighbours),
        "status_label": STATUS_LABELS.get(str(state.status) if state else "new", ""),
    })


def _strings() -> dict:
    return {
        "loading": _("Loading outlines…"),
        "noResult": _("No outlines yet: segment this image, or draw objects by hand (N)."),
        "saved": _("Saved as version %(v)s. Metrics were recomputed on the server."),
        "saveFailed": _("Saving failed"),
        "conflict": _("Someone saved a newer version (v%(latest)s) while you were editing v%(base)s. "
                      "Your changes are kept here: reload the latest version to see theirs, or save again "
                      "on top of it to overwrite it with yours."),
        "reloadLatest": _("Load the latest version (discard my changes)"),
        "overwrite": _("Save mine on top of the latest"),
        "unsaved": _("Unsaved changes"),
        "allSaved": _("All changes saved"),
        "restoreConfirm": _("Restore version %(v)s as a new latest version?"),
        "restored": _("Version %(v)s restored as version %(n)s."),
        "version": _("v%(v)s"),
        "sourceModel": _("model"),
        "sourceEdit": _("edit"),
        "sourceRestore": _("restore"),
        "objects": _("%(n)s objects"),
        "selectFirst": _("Select an object first (click inside it)."),
        "needTwo": _("Shift+click a second object that touches the first one to merge."),
        "notTouching": _("These objects do not touch or overlap: nothing to merge."),
        "sliceFailed": _("The line must cross the object's outline exactly twice."),
        "holeOutside": _("A hole must lie inside the selected object."),
        "tooFew": _("A polygon needs at least 3 points."),
        "modeSelect": _("Select / move vertices"),
        "modeDraw": _("Draw a new object: click to add points, Enter or double-click to finish, Esc to cancel."),
        "modeHole": _("Draw a hole inside the selected object: click points, Enter to finish."),
        "modeSlice": _("Slice: click two points of a line across the selected object."),
        "queued": _("Queued"),
        "running": _("Segmenting… %(pct)s%%"),
        "segmentDone": _("Segmentation finished: outlines reloaded."),
        "segmentFailed": _("Segmentation failed: %(error)s"),
        "leaveWarning": _("You have unsaved changes."),
        "id": _("#"),
        "restore": _("Restore"),
    }


@login_required
@require_GET
def models_page(request):
    models = api.list_models()
    return render(request, "segmentation/models.html", {"models": models})
