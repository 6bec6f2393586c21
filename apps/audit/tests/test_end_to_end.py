"""A session of real use through the API: every action is on the trail with actor, subject and request id."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from PIL import Image as PILImage
from rest_framework.test import APIClient

from apps.audit.models import AuditRecord

pytestmark = pytest.mark.django_db
PASSWORD = "a-Long-unusual-passphrase-42"


def png() -> bytes:
    out = io.BytesIO()
    PILImage.new("L", (32, 24), color=90).save(out, format="PNG")
    return out.getvalue()


class Session:
    """An API client that remembers each response's X-Request-ID."""

    def __init__(self, agent: str):
        self.agent = agent
        self.client = APIClient(HTTP_USER_AGENT=agent)
        self.calls: list[tuple[str, str, int]] = []

    def call(self, method: str, url: str, label: str, **kwargs):
        response = getattr(self.client, method)(url, **kwargs)
        self.calls.append((label, response["X-Request-ID"], response.status_code))
        return response

    def login(self, email: str):
        response = self.call("post", "/api/v1/auth/token/", "login", data={"email": email, "password": PASSWORD})
        assert response.status_code == 200, response.json()
        self.tokens = response.json()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.tokens['access']}")


def register(session: Session, email: str) -> str:
    response = session.call("post", "/api/v1/auth/register/", "register",
                            data={"email": email, "password": PASSWORD, "name": "Test"})
    assert response.status_code == 201, response.json()
    return str(response.json()["id"])


def test_a_session_of_real_use_is_fully_on_the_trail(make_user, tmp_path):
    alice, bob = Session("alice-browser/1"), Session("bob-cli/2")
    alice_email = f"alice-{uuid.uuid4().hex[:6]}@example.org"
    alice_id = register(alice, alice_email)
    bob_email = f"bob-{uuid.uuid4().hex[:6]}@example.org"
    bob_id = register(bob, bob_email)
    alice.login(alice_email)
    bob.login(bob_email)
    wrong = bob.call("post", "/api/v1/auth/token/", "failed-login",
                     data={"email": bob_email, "password": "wrong-password-123"})
    assert wrong.status_code == 401

    project = alice.call("post", "/api/v1/projects/", "create-project", data={"name": "Trail"}).json()
    pid = project["id"]
    assert alice.call("patch", f"/api/v1/projects/{pid}/", "update-project", data={"name": "Trail 2"}).status_code == 200
    assert bob.call("get", f"/api/v1/projects/{pid}/", "denied-non-member").status_code == 404
    assert alice.call("post", f"/api/v1/projects/{pid}/members/", "add-member",
                      data={"email": bob_email, "role": "viewer"}).status_code == 201
    assert bob.call("patch", f"/api/v1/projects/{pid}/", "denied-viewer", data={"name": "x"}).status_code == 403
    assert alice.call("patch", f"/api/v1/projects/{pid}/members/{bob_id}/", "change-member",
                      data={"role": "editor"}).status_code == 200
    upload = bob.call("post", f"/api/v1/projects/{pid}/images/", "upload",
                      data={"files": [SimpleUploadedFile("a.png", png(), content_type="image/png")]},
                      format="multipart")
    assert upload.status_code == 201, upload.json()
    image_id = upload.json()["results"][0]["image"]["id"]
    assert bob.call("delete", f"/api/v1/images/{image_id}/", "delete-image").status_code == 204
    assert alice.call("delete", f"/api/v1/projects/{pid}/members/{bob_id}/", "remove-member").status_code == 204
    assert alice.call("delete", f"/api/v1/projects/{pid}/", "delete-project").status_code == 204

    expected = {  # label -> (event type, actor, subject type, subject id)
        "register": None,
        "create-project": ("images.project.created.v1", alice_id, "project", pid),
        "update-project": ("images.project.updated.v1", alice_id, "project", pid),
        "denied-non-member": ("common.access.denied.v1", bob_id, "resource", pid),
        "add-member": ("images.member.added.v1", alice_id, "user", bob_id),
        "denied-viewer": ("common.access.denied.v1", bob_id, "resource", pid),
        "change-member": ("images.member.changed.v1", alice_id, "user", bob_id),
        "upload": ("images.image.uploaded.v1", bob_id, "image", image_id),
        "delete-image": ("images.image.deleted.v1", bob_id, "image", image_id),
        "remove-member": ("images.member.removed.v1", alice_id, "user", bob_id),
        "delete-project": ("images.project.deleted.v1", alice_id, "project", pid),
    }
    operator = APIClient()
    operator.force_authenticate(make_user(is_staff=True))
    for session in (alice, bob):
        for label, request_id, status_code in session.calls:
            rows = operator.get("/api/v1/audit/", {"request_id": request_id}).json()["results"]
            assert rows, f"{label} (HTTP {status_code}, request {request_id}) left no audit record"
            for row in rows:
                assert row["request_id"] == request_id and row["actor"] and row["subject_type"], (label, row)
                assert row["user_agent"] == session.agent, (label, row)
                assert row["client_ip"] == "127.0.0.1"
            if expected.get(label):
                event_type, actor, subject_type, subject_id = expected[label]
                match = [r for r in rows if r["event_type"] == event_type]
                assert match, f"{label}: no {event_type} among {[r['event_type'] for r in rows]}"
                assert (match[0]["actor"], match[0]["subject_type"], match[0]["subject_id"]) == (
                    actor, subject_type, subject_id), label
                if event_type != "accounts.user.registered.v1":
                    assert match[0]["project_id"] == pid, label
    login_types = {r["event_type"] for r in operator.get("/api/v1/audit/", {"event_type": "accounts.*"}).json()["results"]}
    assert {"accounts.user.registered.v1", "accounts.user.logged_in.v1", "accounts.login.failed.v1"} <= login_types

    # The trail verifies, and an edit made directly in the database is caught and named.
    call_command("verify_audit_log")
    from apps.audit.tests.conftest import drop_triggers, raw_sql

    victim = AuditRecord.objects.get(event_type="images.project.created.v1", subject_id=pid)
    drop_triggers()
    raw_sql("UPDATE audit_auditrecord SET actor = %s WHERE sequence = %s", [bob_id, victim.sequence])
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=rf"record #{victim.sequence} \(id {victim.id}"):
        call_command("verify_audit_log")

