"""Job REST API: visibility by project membership, filters, cancel, replay, stats."""

from __future__ import annotations

import uuid

import pytest

from apps.tasks import api, services, testing
from apps.tasks.models import Job

pytestmark = pytest.mark.django_db


def submit(project, **kw):
    kw.setdefault("params", {})
    return api.submit_job(kind=testing.KIND, owner_id=None, project_id=project.id, **kw)[0]


@pytest.fixture
def setup(project_factory, make_user, auth_client):
    viewer, editor, stranger = make_user(), make_user(), make_user()
    project, owner = project_factory(members=[(viewer, "viewer"), (editor, "editor")])
    return {
        "project": project,
        "owner": auth_client(owner),
        "viewer": auth_client(viewer),
        "editor": auth_client(editor),
        "stranger": auth_client(stranger),
    }


def test_list_only_member_projects_with_filters(setup, project_factory):
    project = setup["project"]
    mine = submit(project, image_id=uuid.uuid4())
    done = submit(project)
    services.transition(done.id, services.JobStatus.CANCELLED)
    other_project, _ = project_factory()
    submit(other_project)

    body = setup["viewer"].get("/api/v1/jobs/").json()
    assert body["count"] == 2
    assert {r["id"] for r in body["results"]} == {str(mine.id), str(done.id)}
    queued = setup["viewer"].get("/api/v1/jobs/", {"status": "queued"}).json()["results"]
    assert [r["id"] for r in queued] == [str(mine.id)] and queued[0]["queue_position"] == 1
    by_image = setup["viewer"].get("/api/v1/jobs/", {"image": str(mine.image_id)}).json()
    assert by_image["count"] == 1
    assert setup["viewer"].get("/api/v1/jobs/", {"project": str(project.id), "kind": "other"}).json()["count"] == 0
    assert setup["stranger"].get("/api/v1/jobs/").json()["count"] == 0
    assert setup["stranger"].get("/api/v1/jobs/", {"project": str(project.id)}).status_code == 404


def test_bad_filters_are_a_clear_400(setup):
    response = setup["viewer"].get("/api/v1/jobs/", {"status": "exploded"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and "status" in body["errors"]
    assert setup["viewer"].get("/api/v1/jobs/", {"project": "nope"}).status_code == 400


def test_anonymous_is_refused(setup, api_client):
    assert api_client.get("/api/v1/jobs/").status_code == 401


def test_detail_is_404_for_non_members(setup):
    job = submit(setup["project"])
    response = setup["viewer"].get(f"/api/v1/jobs/{job.id}/")
    assert response.status_code == 200
    assert response.json()["status"] == "queued" and response.json()["kind"] == testing.KIND
    assert setup["stranger"].get(f"/api/v1/jobs/{job.id}/").status_code == 404
    assert setup["viewer"].get(f"/api/v1/jobs/{uuid.uuid4()}/").status_code == 404
    assert setup["viewer"].get("/api/v1/jobs/not-a-uuid/").status_code == 404


def test_cancel_needs_editor(setup):
    job = submit(setup["project"])
    assert setup["stranger"].post(f"/api/v1/jobs/{job.id}/cancel/").status_code == 404
    assert setup["viewer"].post(f"/api/v1/jobs/{job.id}/cancel/").status_code == 403
    assert Job.objects.get(id=job.id).status == "queued"
    response = setup["editor"].post(f"/api/v1/jobs/{job.id}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"


def test_cancel_finished_job_is_409(setup):
    job = submit(setup["project"])
    services.execute_next(testing.QUEUE)
    response = setup["owner"].post(f"/api/v1/jobs/{job.id}/cancel/")
    assert response.status_code == 409 and response.json()["code"] == "conflict"


def test_replay_dead_job(setup):
    job = submit(setup["project"], params={"fail_attempts": 9}, max_attempts=1)
    services.execute_next(testing.QUEUE)
    assert Job.objects.get(id=job.id).status == "dead"
    assert setup["stranger"].post(f"/api/v1/jobs/{job.id}/replay/").status_code == 404
    assert setup["viewer"].post(f"/api/v1/jobs/{job.id}/replay/").status_code == 403
    response = setup["editor"].post(f"/api/v1/jobs/{job.id}/replay/")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    again = setup["editor"].post(f"/api/v1/jobs/{job.id}/replay/")
    assert again.status_code == 409


def test_stats(setup, project_factory):
    project = setup["project"]
    submit(project, params={"permanent": True})
    services.execute_next(testing.QUEUE)
    ok = submit(project)
    services.execute_next(testing.QUEUE)
    submit(project, priority=9)
    foreign, _ = project_factory()
    submit(foreign)
    body = setup["viewer"].get("/api/v1/jobs/stats/").json()
    assert body["total"] == 3
    assert body["by_status"]["failed"] == 1 and body["by_status"]["succeeded"] == 1
    assert body["by_status"]["queued"] == 1
    assert body["by_priority"]["9"] == {"queued": 1}
    assert body["completion_rate"] == 0.5
    assert body["mean_wait_seconds"] is not None and body["mean_run_seconds"] is not None
    assert setup["viewer"].get("/api/v1/jobs/stats/", {"project": str(project.id)}).json()["total"] == 3
    assert setup["stranger"].get("/api/v1/jobs/stats/", {"project": str(project.id)}).status_code == 404
    assert setup["stranger"].get("/api/v1/jobs/stats/").json()["total"] == 0
    assert ok.id
