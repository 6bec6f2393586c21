"""Segment requests: idempotent submission, batch per project, the permission matrix, model
registry, derived image status."""

from __future__ import annotations

import uuid

import pytest

from apps.segmentation import api
from apps.segmentation.contracts import SEGMENT_IMAGE_JOB, ImageStatus
from apps.segmentation.models import ResultVersion, SegmentationModel
from apps.segmentation.tests.conftest import SQUARE
from apps.tasks import api as tasks_api

pytestmark = pytest.mark.django_db


def test_models_endpoint_lists_the_registry_synced_from_the_engine(world, client_for):
    resp = client_for(world.viewer).get("/api/v1/models/")
    assert resp.status_code == 200
    names = {m["name"]: m for m in resp.json()["results"]}
    assert "classical" in names
    assert names["classical"]["kind"] == "classical" and names["classical"]["version"]
    assert resp.json()["count"] == len(names)
    # Syncing is idempotent: no duplicate rows, operator's enabled flag kept.
    from apps.segmentation import services

    SegmentationModel.objects.filter(name="classical").update(enabled=False)
    services.sync_models(force=True)
    assert SegmentationModel.objects.filter(name="classical").count() == 1
    assert "classical" not in {m.name for m in api.list_models()}


def test_second_request_returns_the_same_job(world, client_for):
    editor = client_for(world.editor)
    first = editor.post(f"/api/v1/images/{world.image_id}/segment/", {"model": "classical", "priority": "high"}, format="json")
    assert first.status_code == 202, first.json()
    job = first.json()
    assert job["status"] == "queued" and job["kind"] == SEGMENT_IMAGE_JOB and job["priority"] == 9
    assert job["params"]["model"] == "classical" and job["image_id"] == str(world.image_id)
    again = client_for(world.owner).post(f"/api/v1/images/{world.image_id}/segment/", {"model": "classical"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == job["id"]
    # Other parameters are another run.
    other = editor.post(f"/api/v1/images/{world.image_id}/segment/", {"model": "classical", "threshold": 0.3}, format="json")
    assert other.status_code == 202 and other.json()["id"] != job["id"]

    state = api.get_image_states(image_ids=[world.image_id, world.image_ids[1]])
    assert state[world.image_id].status == ImageStatus.QUEUED
    assert state[world.image_id].job_id == uuid.UUID(other.json()["id"])
    assert state[world.image_ids[1]].status == ImageStatus.NEW
    assert api.image_ids_with_status(project_id=world.project_id, status=ImageStatus.QUEUED) == [world.image_id]
    assert api.image_ids_with_status(project_id=world.project_id, status="new") == [world.image_ids[1]]


def test_project_segment_all_and_listed(world, client_for):
    editor = client_for(world.editor)
    resp = editor.post(f"/api/v1/projects/{world.project_id}/segment/", {}, format="json")
    assert resp.status_code == 202
    body = resp.json()
    assert body["created"] == 2 and body["existing"] == 0
    assert {j["image_id"] for j in body["jobs"]} == {str(i) for i in world.image_ids}
    again = editor.post(f"/api/v1/projects/{world.project_id}/segment/", {"image_ids": [str(world.image_id)]}, format="json")
    assert again.status_code == 200 and again.json()["existing"] == 1
    foreign = editor.post(f"/api/v1/projects/{world.project_id}/segment/", {"image_ids": [str(uuid.uuid4())]}, format="json")
    assert foreign.status_code == 400 and "image_ids" in foreign.json()["errors"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"model": "no-such-model"}, "model"), ({"priority": "urgent"}, "priority"), ({"threshold": 1.5}, "threshold"),
     ({"threshold": 1.0}, "threshold")],
)
def test_bad_segment_parameters_are_400_and_queue_nothing(world, client_for, body, field):
    resp = client_for(world.editor).post(f"/api/v1/images/{world.image_id}/segment/", body, format="json")
    assert resp.status_code == 400
    assert field in resp.json().get("errors", {}) or field in resp.json()["detail"]
    assert tasks_api.latest_jobs_for_images(image_ids=[world.image_id]) == {}


def test_permission_matrix(world, client_for):
    editor, viewer, outsider = client_for(world.editor), client_for(world.viewer), client_for(world.outsider)
    assert editor.put(f"/api/v1/images/{world.image_id}/segmentation/", {"base_version": None, "polygons": [{"exterior": SQUARE}]},
                      format="json").status_code == 200
    image = f"/api/v1/images/{world.image_id}"
    reads = [f"{image}/segmentation/", f"{image}/segmentation/versions/"]
    writes = [
        ("post", f"{image}/segment/", {}),
        ("post", f"/api/v1/projects/{world.project_id}/segment/", {}),
        ("put", f"{image}/segmentation/", {"base_version": 1, "polygons": [{"exterior": SQUARE}]}),
        ("post", f"{image}/segmentation/versions/1/restore/", {}),
    ]
    for path in reads:
        assert viewer.get(path).status_code == 200
        assert outsider.get(path).status_code == 404
    for method, path, body in writes:
        denied = getattr(viewer, method)(path, body, format="json")
        assert denied.status_code == 403, path
        hidden = getattr(outsider, method)(path, body, format="json")
        assert hidden.status_code == 404, path
        assert hidden.json()["detail"] == "Not found."
    assert ResultVersion.objects.count() == 1
    assert tasks_api.latest_jobs_for_images(image_ids=[world.image_id]) == {}
    # Unknown and malformed ids are 404 too, anonymous requests 401.
    assert viewer.get(f"/api/v1/images/{uuid.uuid4()}/segmentation/").status_code == 404
    assert viewer.get("/api/v1/images/not-a-uuid/segmentation/").status_code == 404
    from rest_framework.test import APIClient

    assert APIClient().get(f"{image}/segmentation/").status_code == 401
    # The api refuses the same way as the REST doors.
    from apps.images.contracts import AccessDenied, ImageNotFound

    with pytest.raises(AccessDenied):
        api.request_segmentation(user_id=world.viewer.id, image_ids=[world.image_id])
    with pytest.raises(ImageNotFound):
        api.request_segmentation(user_id=world.outsider.id, image_ids=[world.image_id])


def test_states_take_a_constant_number_of_queries(world, client_for, django_assert_max_num_queries):
    editor = client_for(world.editor)
    editor.put(f"/api/v1/images/{world.image_id}/segmentation/", {"base_version": None, "polygons": [{"exterior": SQUARE}]},
               format="json")
    ids = [*world.image_ids, *(uuid.uuid4() for _ in range(50))]
    with django_assert_max_num_queries(4):
        states = api.get_image_states(image_ids=ids)
    assert states[world.image_id].status == ImageStatus.DONE and states[world.image_id].latest_version == 1
    assert states[world.image_id].object_count == 1
    with django_assert_max_num_queries(2):
        latest = api.get_latest_results(image_ids=ids)
    assert list(latest) == [world.image_id]


@pytest.mark.django_db(transaction=True)
def test_a_submission_costs_a_bounded_number_of_statements(world, client_for):
    """One POST .../segment/ (the per-image cost behind docs/benchmarks.md, Pipeline): 19
    statements before the savings (20 with a Bearer token's user read), now 14: the service
    reads the image and its access in one query (the view's permission-first check is the
    other), the model registry is read once, the duplicate lookup has no queue-position
    annotation, the new job's position and whether it overtakes anyone come from one query
    (reused by its websocket message), the audit head is read once for the two records."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    editor = client_for(world.editor)
    editor.post(f"/api/v1/images/{world.image_ids[1]}/segment/", {"model": "classical"}, format="json")  # one queued ahead
    with CaptureQueriesContext(connection) as queries:
        resp = editor.post(f"/api/v1/images/{world.image_id}/segment/", {"model": "classical"}, format="json")
    assert resp.status_code == 202 and resp.json()["queue_position"] == 2
    sql = [q["sql"] for q in queries.captured_queries]
    assert len([s for s in sql if "audit_chain_head" in s or "ORDER BY sequence DESC" in s]) == 1
    assert len([s for s in sql if s.startswith('INSERT INTO "audit_auditrecord"')]) == 2  # job queued, run requested
    assert len(sql) <= 14, "\n".join(sql)
