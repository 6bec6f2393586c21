"""Reading the trail: operators see everything, a project's owner sees the project, nobody else."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from django.utils import timezone

from apps.audit.models import AuditRecord
from apps.images import api as images_api
from apps.images.contracts import Role

pytestmark = pytest.mark.django_db

LIST = "/api/v1/audit/"


@pytest.fixture
def project(make_user):
    owner = make_user()
    project = images_api.create_project(actor_id=owner.id, name="Spheroids A")
    return owner, project


def test_operators_read_everything_with_filters(auth_client, project, publish):
    owner, proj = project
    other_actor = str(uuid.uuid4())
    publish(actor_id=other_actor, project_id=None, subject_id="s-1")
    operator = auth_client(is_staff=True)
    body = operator.get(LIST).json()
    types = [r["event_type"] for r in body["results"]]
    assert "images.project.created.v1" in types and "common.access.denied.v1" in types
    assert set(body) >= {"next", "previous", "results"}

    by_actor = operator.get(LIST, {"actor": other_actor}).json()["results"]
    assert [r["actor"] for r in by_actor] == [other_actor]
    by_project = operator.get(LIST, {"project": str(proj.id)}).json()["results"]
    assert by_project and all(r["project_id"] == str(proj.id) for r in by_project)
    assert operator.get(LIST, {"event_type": "images.project.created.v1"}).json()["results"][0]["subject_id"] == str(proj.id)
    assert {r["event_type"] for r in operator.get(LIST, {"event_type": "images.*"}).json()["results"]} == {
        "images.project.created.v1"}
    assert operator.get(LIST, {"subject_type": "resource", "subject_id": "s-1"}).json()["results"][0]["actor"] == other_actor
    assert operator.get(LIST, {"outcome": "denied"}).json()["results"][0]["actor"] == other_actor
    future = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    assert operator.get(LIST, {"since": future}).json()["results"] == []
    assert len(operator.get(LIST, {"until": future}).json()["results"]) == AuditRecord.objects.count()


def test_bad_filters_answer_400_in_the_project_shape(auth_client):
    operator = auth_client(is_staff=True)
    response = operator.get(LIST, {"since": "yesterday"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "since" in response.json()["errors"]
    response = operator.get(LIST, {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"})
    assert response.status_code == 400 and "until" in response.json()["errors"]
    assert operator.get(LIST, {"outcome": "maybe"}).status_code == 400


def test_cursor_pagination_walks_every_record_once(auth_client, publish):
    for _ in range(7):
        publish()
    operator = auth_client(is_staff=True)
    seen, url = [], LIST + "?page_size=3"
    while url:
        body = operator.get(url).json()
        seen += [r["sequence"] for r in body["results"]]
        url = body["next"]
    assert seen == sorted(AuditRecord.objects.values_list("sequence", flat=True))
    assert len(seen) == len(set(seen)) >= 7


def test_non_operators_cannot_read_the_operator_list(auth_client, api_client, publish):
    publish()
    response = auth_client().get(LIST)
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert api_client.get(LIST).status_code == 401


def test_project_owner_reads_only_that_project(auth_client, project, make_user, publish):
    owner, proj = project
    other_owner = make_user()
    other = images_api.create_project(actor_id=other_owner.id, name="Someone else's")
    client = auth_client(user=owner)
    url = f"/api/v1/projects/{proj.id}/audit/"
    results = client.get(url).json()["results"]
    assert [r["event_type"] for r in results] == ["images.project.created.v1"]
    assert results[0]["actor"] == str(owner.id) and results[0]["subject_id"] == str(proj.id)
    # Filters work, but ?project= cannot widen the view to another project.
    assert client.get(url, {"project": str(other.id)}).json()["results"] == results
    assert client.get(url, {"event_type": "images.member.added.v1"}).json()["results"] == []


def test_project_trail_non_member_404_member_403(auth_client, project, make_user):
    owner, proj = project
    editor = make_user()
    images_api.add_member(actor_id=owner.id, project_id=proj.id, email=editor.email, role=Role.EDITOR)
    url = f"/api/v1/projects/{proj.id}/audit/"
    stranger = auth_client()
    assert stranger.get(url).status_code == 404
    assert auth_client().get(f"/api/v1/projects/{uuid.uuid4()}/audit/").status_code == 404
    response = auth_client(user=editor).get(url)
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    # Both refusals are on the record, with who asked and for what.
    denials = AuditRecord.objects.filter(event_type="common.access.denied.v1", project_id=str(proj.id))
    assert {(d.actor, d.details["status_code"]) for d in denials} == {
        (str(stranger.user.id), 404), (str(editor.id), 403)}
    assert all(d.subject_type == "resource" and d.subject_id == str(proj.id) for d in denials)
    assert all(d.details["path"] == url and d.details["method"] == "GET" for d in denials)


def test_jsonl_export_streams_verifiable_lines(auth_client, project, publish, tmp_path):
    from django.core.management import call_command

    owner, proj = project
    for _ in range(3):
        publish()
    operator = auth_client(is_staff=True)
    response = operator.get(LIST, {"format": "jsonl"})
    assert response.status_code == 200 and response["Content-Type"].startswith("application/x-ndjson")
    body = b"".join(response.streaming_content).decode()
    lines = [json.loads(line) for line in body.splitlines()]
    assert [line["sequence"] for line in lines] == list(AuditRecord.objects.values_list("sequence", flat=True))
    export = tmp_path / "export.jsonl"
    export.write_text(body)
    call_command("verify_audit_log", "--archive", str(export))  # raises if broken

    owner_export = auth_client(user=owner).get(f"/api/v1/projects/{proj.id}/audit/", {"format": "jsonl"})
    rows = [json.loads(line) for line in b"".join(owner_export.streaming_content).decode().splitlines()]
    assert [r["event_type"] for r in rows] == ["images.project.created.v1"]
    assert auth_client().get(LIST, {"format": "jsonl"}).status_code == 403


def test_owner_page_lists_the_trail(client, project, make_user):
    owner, proj = project
    client.force_login(owner)
    response = client.get(f"/projects/{proj.id}/audit/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "images.project.created.v1" in html and str(owner.id) in html and "Spheroids A" in html
    client.force_login(make_user())
    assert client.get(f"/projects/{proj.id}/audit/").status_code == 404
    editor = make_user()
    images_api.add_member(actor_id=owner.id, project_id=proj.id, email=editor.email, role=Role.EDITOR)
    client.force_login(editor)
    assert client.get(f"/projects/{proj.id}/audit/").status_code == 403
    client.logout()
    assert client.get(f"/projects/{proj.id}/audit/").status_code == 302


def test_admin_changes_are_recorded(client, make_user):
    admin = make_user(is_staff=True, is_superuser=True)
    target = make_user()
    client.force_login(admin)
    client.get("/admin/")  # the admin answers
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    LogEntry.objects.log_actions(user_id=admin.pk, queryset=[target], action_flag=CHANGE,
                                 change_message=[{"changed": {"fields": ["name"]}}])
    record = AuditRecord.objects.get(event_type="admin.change.v1")
    assert record.actor == str(admin.pk) and record.subject_id == str(target.pk)
    assert record.subject_type == "accounts.user"
    assert record.details["action"] == "change"
    assert record.details["change_message"] == [{"changed": {"fields": ["name"]}}]
    # Several at once (bulk "delete selected") are bulk-created without signals: still recorded.
    others = [make_user(), make_user()]
    LogEntry.objects.log_actions(user_id=admin.pk, queryset=others, action_flag=3)
    deletions = AuditRecord.objects.filter(event_type="admin.change.v1", details__action="deletion")
    assert sorted(r.subject_id for r in deletions) == sorted(str(u.pk) for u in others)
    assert ContentType.objects.get_for_model(target).model == "user"


def test_admin_change_through_the_admin_site_is_recorded_with_its_request(client, make_user):
    admin = make_user(is_staff=True, is_superuser=True)
    client.force_login(admin)
    from django.contrib.auth.models import Group

    response = client.post("/admin/auth/group/add/", {"name": "lab-managers"}, HTTP_X_REQUEST_ID="admin-req-1")
    assert response.status_code == 302
    group = Group.objects.get(name="lab-managers")
    record = AuditRecord.objects.get(event_type="admin.change.v1", subject_id=str(group.pk))
    assert record.request_id == "admin-req-1" and record.actor == str(admin.pk)
    assert record.details["action"] == "addition" and record.subject_type == "auth.group"


def test_jsonl_export_streams_asynchronously_under_asgi(make_user, publish):
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    for _ in range(3):
        publish()
    operator = make_user(is_staff=True)

    async def fetch():
        client = AsyncClient()
        await client.aforce_login(operator)
        response = await client.get(LIST, {"format": "jsonl"})
        assert response.is_async  # served by an async iterator, not read whole first
        return b"".join([chunk async for chunk in response.streaming_content])

    body = async_to_sync(fetch)().decode()
    assert [json.loads(line)["sequence"] for line in body.splitlines()] == list(
        AuditRecord.objects.values_list("sequence", flat=True))


def test_a_login_storm_is_on_the_trail(api_client, make_user, settings):
    user = make_user()
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**rates, "auth_account": "2/min"}}
    try:
        codes = [
            api_client.post("/api/v1/auth/token/", {"email": user.email, "password": "wrong-password-x"},
                            REMOTE_ADDR="192.0.2.50").status_code
            for _ in range(3)
        ]
    finally:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    assert codes == [401, 401, 429]
    failed = AuditRecord.objects.filter(event_type="accounts.login.failed.v1", client_ip="192.0.2.50")
    assert failed.count() == 2 and all(r.outcome == "failed" and r.subject_id == str(user.id) for r in failed)
    denials = AuditRecord.objects.filter(event_type="common.access.denied.v1", client_ip="192.0.2.50")
    assert sorted(r.details["status_code"] for r in denials) == [401, 401, 429]
    assert all(r.actor == "system" and r.outcome == "denied" for r in denials)
    assert all("password" not in json.dumps(r.details) for r in [*failed, *denials])
