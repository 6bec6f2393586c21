"""Results API: latest, chosen version, history, restore, 409 on a stale base, server metrics."""

from __future__ import annotations

import pytest

from apps.segmentation import api
from apps.segmentation.models import ResultVersion
from apps.segmentation.tests.conftest import SQUARE

pytestmark = pytest.mark.django_db


def url(image_id, suffix=""):
    return f"/api/v1/images/{image_id}/segmentation/{suffix}"


def put(client, image_id, base_version, polygons):
    return client.put(url(image_id), {"base_version": base_version, "polygons": polygons}, format="json")


def test_no_result_yet_is_404(world, client_for):
    resp = client_for(world.viewer).get(url(world.image_id))
    assert resp.status_code == 404
    assert resp.json()["detail"] == "This image has no segmentation yet."


def test_edit_versions_restore_and_stale_base(world, client_for):
    editor = client_for(world.editor)
    # Client-sent metrics are ignored; the server measures the polygon.
    first = put(editor, world.image_id, None, [{"exterior": SQUARE, "metrics": {"area_px": 1}}])
    assert first.status_code == 200, first.json()
    v1 = first.json()
    assert v1["version"] == 1 and v1["source"] == "edit" and v1["object_count"] == 1
    assert v1["polygons"][0]["metrics"]["area_px"] == pytest.approx(200 * 200)
    # The project's pixel size (0.65 µm) gives µm metrics too.
    assert v1["polygons"][0]["metrics"]["area_um2"] == pytest.approx(200 * 200 * 0.65**2, rel=1e-3)

    # Move one vertex outwards: the area grows, computed on the server.
    moved = [[100, 100], [400, 100], [300, 300], [100, 300]]
    second = put(editor, world.image_id, 1, [{"exterior": moved, "holes": [[[150, 150], [200, 150], [200, 200], [150, 200]]]}])
    assert second.status_code == 200
    v2 = second.json()
    assert v2["version"] == 2 and v2["based_on"] == 1
    expected = 200 * 200 + 0.5 * 100 * 200 - 50 * 50  # the moved vertex adds a triangle, the hole subtracts
    assert v2["polygons"][0]["metrics"]["area_px"] == pytest.approx(expected)
    assert v2["polygons"][0]["holes"] == [[[150, 150], [200, 150], [200, 200], [150, 200]]]

    # A second editor still on version 1 gets 409 and nothing is written.
    stale = put(client_for(world.owner), world.image_id, 1, [{"exterior": SQUARE}])
    assert stale.status_code == 409
    body = stale.json()
    assert body["code"] == "stale_version" and body["latest_version"] == 2 and "version 1" in body["detail"]
    assert ResultVersion.objects.filter(image_id=world.image_id).count() == 2

    # Latest and a chosen version.
    viewer = client_for(world.viewer)
    latest = viewer.get(url(world.image_id)).json()
    assert latest["version"] == 2 and latest["model"] == {"name": "", "version": ""}
    assert viewer.get(url(world.image_id) + "?version=1").json()["polygons"][0]["exterior"] == SQUARE
    assert viewer.get(url(world.image_id) + "?version=7").status_code == 404
    assert viewer.get(url(world.image_id) + "?version=x").status_code == 400

    # History with author and time, newest first.
    history = viewer.get(url(world.image_id, "versions/")).json()
    assert [v["version"] for v in history["results"]] == [2, 1]
    assert history["results"][0]["author"]["email"] == world.editor.email
    assert history["results"][0]["created_at"]

    # Restore version 1 as version 3.
    restored = client_for(world.owner).post(url(world.image_id, "versions/1/restore/"))
    assert restored.status_code == 201
    v3 = restored.json()
    assert v3["version"] == 3 and v3["source"] == "restore" and v3["based_on"] == 1
    assert v3["polygons"][0]["exterior"] == SQUARE
    assert viewer.get(url(world.image_id)).json()["version"] == 3
    assert client_for(world.owner).post(url(world.image_id, "versions/9/restore/")).status_code == 404


def test_edit_on_a_fresh_image_needs_null_base(world, client_for):
    resp = put(client_for(world.editor), world.image_id, 1, [{"exterior": SQUARE}])
    assert resp.status_code == 409
    assert ResultVersion.objects.count() == 0


@pytest.mark.parametrize(
    ("polygons", "fragment"),
    [
        ([{"exterior": [[0, 0], [10, 0]]}], "at least 3"),
        ([{"exterior": [[0, 0], [5000, 0], [0, 10]]}], "outside the image"),
        ([{"exterior": [[0, 0], [10, 0], [20, 0]]}], "no area"),
        ([{"exterior": [[0, 0], [10, "a"], [0, 10]]}], "finite numbers"),
        ([{"exterior": SQUARE, "holes": [[[1, 1], [2, 2]]]}], "at least 3"),
        ([{"exterior": SQUARE, "confidence": 3}], "confidence"),
        (["nope"], "exterior"),
    ],
)
def test_bad_geometry_is_a_clear_400_and_leaves_nothing(world, client_for, polygons, fragment):
    resp = put(client_for(world.editor), world.image_id, None, polygons)
    assert resp.status_code == 400
    body = resp.json()
    assert fragment in body["detail"] and body["code"] == "invalid_polygons" and "polygons" in body["errors"]
    assert ResultVersion.objects.count() == 0


def test_missing_base_version_is_400(world, client_for):
    resp = client_for(world.editor).put(url(world.image_id), {"polygons": []}, format="json")
    assert resp.status_code == 400 and "base_version" in resp.json()["errors"]


def test_results_are_deleted_with_their_image_and_project(world, client_for, django_capture_on_commit_callbacks):
    from apps.images import api as images_api
    from apps.tasks import api as tasks_api

    editor = client_for(world.editor)
    for image_id in world.image_ids:
        assert put(editor, image_id, None, [{"exterior": SQUARE}]).status_code == 200
    [(job, _)] = api.request_segmentation(user_id=world.editor.id, image_ids=[world.image_ids[0]])
    with django_capture_on_commit_callbacks(execute=True):  # after-commit subscribers run
        images_api.delete_image(actor_id=world.editor.id, image_id=world.image_ids[0])
    assert list(ResultVersion.objects.values_list("image_id", flat=True)) == [world.image_ids[1]]
    assert tasks_api.get_job(job_id=job.id).status == "cancelled"  # its queued segmentation too
    with django_capture_on_commit_callbacks(execute=True):
        images_api.delete_project(actor_id=world.owner.id, project_id=world.project_id)
    assert ResultVersion.objects.count() == 0


def test_edit_and_restore_publish_events_with_actor_subject_project(world, django_capture_on_commit_callbacks):
    from apps.common import events

    seen = []
    for name in ("segmentation.result.edited", "segmentation.result.restored"):
        events.subscribe(name, seen.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            api.save_edit(user_id=world.editor.id, image_id=world.image_id, base_version=None, polygons=[{"exterior": SQUARE}])
            api.restore_version(user_id=world.owner.id, image_id=world.image_id, version=1)
    finally:
        for name in ("segmentation.result.edited", "segmentation.result.restored"):
            events.unsubscribe(name, seen.append)
    edited, restored = seen
    assert (edited.name, edited.actor_id, edited.subject_id, edited.project_id, edited.result_version) == (
        "segmentation.result.edited", str(world.editor.id), str(world.image_id), str(world.project_id), 1)
    assert (restored.name, restored.actor_id, restored.result_version, restored.restored_version) == (
        "segmentation.result.restored", str(world.owner.id), 2, 1)
