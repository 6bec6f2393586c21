"""Projects and members over REST: CRUD, roles, no existence leak for non-members."""

from __future__ import annotations

import uuid

import pytest

from apps.common import events as bus
from apps.images import api
from apps.images.models import Membership, Project

pytestmark = pytest.mark.django_db


@pytest.fixture
def published():
    seen = []

    def handler(event):
        seen.append(event)

    bus.subscribe(bus.ALL, handler, phase="in_transaction")
    yield seen
    bus.unsubscribe(bus.ALL, handler, phase="in_transaction")


def _create(client, **data):
    response = client.post("/api/v1/projects/", {"name": "Spheroids", **data}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_create_list_get_patch_delete(auth_client, published):
    owner = auth_client()
    body = _create(owner, description="day 3", tags=["HT-29", "day3", "day3"], pixel_size_um=0.65)
    assert body["role"] == "owner" and body["owner_id"] == str(owner.user.id)
    assert body["tags"] == ["HT-29", "day3"] and body["pixel_size_um"] == 0.65
    assert body["image_count"] == 0 and body["member_count"] == 1
    pid = body["id"]

    listed = owner.get("/api/v1/projects/").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == pid
    assert owner.get(f"/api/v1/projects/{pid}/").json()["name"] == "Spheroids"

    patched = owner.patch(f"/api/v1/projects/{pid}/", {"name": "Renamed", "pixel_size_um": None}, format="json")
    assert patched.status_code == 200 and patched.json()["name"] == "Renamed"
    assert patched.json()["pixel_size_um"] is None

    assert owner.delete(f"/api/v1/projects/{pid}/").status_code == 204
    assert owner.get(f"/api/v1/projects/{pid}/").status_code == 404
    mine = [e for e in published if e.name.startswith("images.")]
    names = [e.name for e in mine]
    assert names[0] == "images.project.created" and "images.project.updated" in names
    assert names[-1] == "images.project.deleted"
    for e in mine:
        assert e.actor_id == str(owner.user.id) and e.project_id == pid and e.subject_id


def test_invalid_input_is_a_clear_400(auth_client):
    owner = auth_client()
    response = owner.post("/api/v1/projects/", {"name": "", "pixel_size_um": -1}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and {"name", "pixel_size_um"} <= set(body["errors"])
    assert not Project.objects.exists()


def test_anonymous_is_refused(api_client):
    assert api_client.get("/api/v1/projects/").status_code == 401


def test_non_member_gets_404_everywhere(auth_client):
    owner, stranger = auth_client(), auth_client()
    pid = _create(owner)["id"]
    paths = [f"/api/v1/projects/{pid}/", f"/api/v1/projects/{pid}/members/", f"/api/v1/projects/{pid}/images/"]
    for path in paths:
        assert stranger.get(path).status_code == 404, path
    assert stranger.patch(f"/api/v1/projects/{pid}/", {"name": "x"}, format="json").status_code == 404
    assert stranger.delete(f"/api/v1/projects/{pid}/").status_code == 404
    assert stranger.post(f"/api/v1/projects/{pid}/members/", {"email": stranger.user.email}).status_code == 404
    assert stranger.post(f"/api/v1/projects/{pid}/leave/").status_code == 404
    # Same answer as for a project that does not exist, or a malformed id.
    missing = stranger.get(f"/api/v1/projects/{uuid.uuid4()}/")
    assert missing.status_code == 404 and missing.json() == stranger.get(f"/api/v1/projects/{pid}/").json()
    assert stranger.get("/api/v1/projects/not-a-uuid/").status_code == 404
    assert stranger.get("/api/v1/projects/").json()["count"] == 0
    assert Project.objects.filter(id=pid).exists()


def test_members_invite_change_remove_leave(auth_client, make_user, published):
    owner = auth_client()
    pid = _create(owner)["id"]
    editor_user, viewer_user = make_user(), make_user()
    invited = owner.post(f"/api/v1/projects/{pid}/members/", {"email": editor_user.email.upper(), "role": "editor"})
    assert invited.status_code == 201 and invited.json()["role"] == "editor"
    assert owner.post(f"/api/v1/projects/{pid}/members/", {"email": viewer_user.email}).json()["role"] == "viewer"

    again = owner.post(f"/api/v1/projects/{pid}/members/", {"email": viewer_user.email})
    assert again.status_code == 409 and again.json()["code"] == "already_member"
    unknown = owner.post(f"/api/v1/projects/{pid}/members/", {"email": "nobody@example.org"})
    assert unknown.status_code == 400 and unknown.json()["code"] == "user_not_found"
    as_owner = owner.post(f"/api/v1/projects/{pid}/members/", {"email": make_user().email, "role": "owner"})
    assert as_owner.status_code == 400

    members = owner.get(f"/api/v1/projects/{pid}/members/").json()
    assert [m["role"] for m in members] == ["owner", "editor", "viewer"]
    assert members[1]["email"] == editor_user.email

    changed = owner.patch(f"/api/v1/projects/{pid}/members/{viewer_user.id}/", {"role": "editor"}, format="json")
    assert changed.status_code == 200 and changed.json()["role"] == "editor"
    assert owner.delete(f"/api/v1/projects/{pid}/members/{viewer_user.id}/").status_code == 204
    viewer = auth_client(user=viewer_user)
    assert viewer.get(f"/api/v1/projects/{pid}/").status_code == 404

    editor = auth_client(user=editor_user)
    assert editor.post(f"/api/v1/projects/{pid}/leave/").status_code == 204
    assert editor.get(f"/api/v1/projects/{pid}/").status_code == 404
    assert list(Membership.objects.filter(project_id=pid).values_list("role", flat=True)) == ["owner"]
    kinds = [e.name for e in published]
    assert kinds.count("images.member.added") == 2 and kinds.count("images.member.changed") == 1
    assert kinds.count("images.member.removed") == 2


def test_editor_cannot_manage_and_viewer_cannot_edit(auth_client, make_user):
    owner = auth_client()
    pid = _create(owner)["id"]
    editor, viewer = auth_client(), auth_client()
    api.add_member(actor_id=owner.user.id, project_id=pid, email=editor.user.email, role="editor")
    api.add_member(actor_id=owner.user.id, project_id=pid, email=viewer.user.email, role="viewer")
    third = make_user()
    for client in (editor, viewer):
        assert client.get(f"/api/v1/projects/{pid}/").status_code == 200
        assert client.get(f"/api/v1/projects/{pid}/members/").status_code == 200
        r = client.post(f"/api/v1/projects/{pid}/members/", {"email": third.email})
        assert r.status_code == 403 and r.json()["code"] == "permission_denied"
        assert client.patch(f"/api/v1/projects/{pid}/", {"name": "x"}, format="json").status_code == 403
        assert client.delete(f"/api/v1/projects/{pid}/").status_code == 403
        assert client.delete(f"/api/v1/projects/{pid}/members/{owner.user.id}/").status_code == 403
    assert editor.patch(f"/api/v1/projects/{pid}/members/{viewer.user.id}/", {"role": "editor"},
                        format="json").status_code == 403
    assert Project.objects.get(id=pid).name == "Spheroids"


def test_exactly_one_owner_and_transfer(auth_client, published):
    owner = auth_client()
    pid = _create(owner)["id"]
    member = auth_client()
    api.add_member(actor_id=owner.user.id, project_id=pid, email=member.user.email, role="viewer")

    cannot_leave = owner.post(f"/api/v1/projects/{pid}/leave/")
    assert cannot_leave.status_code == 409 and cannot_leave.json()["code"] == "owner_cannot_leave"
    demote = owner.patch(f"/api/v1/projects/{pid}/members/{owner.user.id}/", {"role": "editor"}, format="json")
    assert demote.status_code == 400 and demote.json()["code"] == "use_transfer"
    stranger_id = uuid.uuid4()
    assert owner.post(f"/api/v1/projects/{pid}/transfer-ownership/", {"user_id": str(stranger_id)}).status_code == 404

    moved = owner.post(f"/api/v1/projects/{pid}/transfer-ownership/", {"user_id": str(member.user.id)})
    assert moved.status_code == 200 and moved.json()["role"] == "owner"
    roles = dict(Membership.objects.filter(project_id=pid).values_list("user_id", "role"))
    assert roles == {owner.user.id: "editor", member.user.id: "owner"}
    assert Project.objects.get(id=pid).owner_id == member.user.id
    # The former owner is now an editor: no more managing.
    assert owner.delete(f"/api/v1/projects/{pid}/").status_code == 403
    # PATCH role=owner is a transfer too.
    back = member.patch(f"/api/v1/projects/{pid}/members/{owner.user.id}/", {"role": "owner"}, format="json")
    assert back.status_code == 200
    assert Membership.objects.filter(project_id=pid, role="owner").count() == 1
    assert Project.objects.get(id=pid).owner_id == owner.user.id


def test_user_deleted_event_removes_owned_projects_and_memberships(auth_client, make_user,
                                                                   django_capture_on_commit_callbacks):
    from apps.images import services

    owner = auth_client()
    other = auth_client()
    own_pid = _create(owner)["id"]
    shared_pid = _create(other)["id"]
    api.add_member(actor_id=other.user.id, project_id=shared_pid, email=owner.user.email, role="editor")

    class Deleted:  # the shape of accounts.user.deleted as far as this handler reads it
        subject_id = str(owner.user.id)
        actor_id = None

    with django_capture_on_commit_callbacks(execute=True):
        services.on_user_deleted(Deleted())
        services.on_user_deleted(Deleted())  # idempotent
    assert not Project.objects.filter(id=own_pid).exists()
    assert Project.objects.filter(id=shared_pid).exists()
    assert not Membership.objects.filter(user_id=owner.user.id).exists()
