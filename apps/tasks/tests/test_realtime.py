"""The project websocket through the real auth stack (session cookie), on the in-memory layer
or on Redis pub/sub when REDIS_URL configures it."""

from __future__ import annotations

import datetime as dt

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from channels.testing import WebsocketCommunicator
from django.test import Client

from apps.tasks import api, services, testing
from apps.tasks.realtime.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)

application = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))


def communicator(project_id, user=None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://testserver")]
    if user is not None:
        client = Client()
        client.force_login(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return WebsocketCommunicator(application, f"/ws/projects/{project_id}/", headers=headers)


def stamped(message: dict, since: dt.datetime) -> dict:
    """The message without its ``sent_at``, after checking that stamp: ISO 8601 UTC with
    microseconds, taken at publication (not before ``since``, not after receipt)."""
    message = dict(message)
    raw = message.pop("sent_at")
    assert isinstance(raw, str) and raw.endswith("Z") and len(raw.split(".")[1]) == len("123456Z"), raw
    sent = dt.datetime.fromisoformat(raw)
    assert sent.tzinfo is not None and sent.utcoffset() == dt.timedelta(0)
    assert since <= sent <= dt.datetime.now(dt.UTC), (since, raw)
    return message


async def receive_until(comm, predicate, limit=30, since=None):
    seen = []
    for _ in range(limit):
        message = await comm.receive_json_from(timeout=5)
        if since is not None:
            message = stamped(message, since)
        seen.append(message)
        if predicate(message):
            return seen
    raise AssertionError(f"no matching message in {seen}")


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def layer(request, settings):
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [{"address": url, "socket_timeout": 15, "max_connections": 50}],
                           "prefix": "spheroseg-test"},
            }
        }
    else:
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    return request.param


def test_member_gets_snapshot_then_one_message_per_change(project_factory, make_user, layer):
    viewer = make_user()
    project, owner = project_factory(members=[(viewer, "viewer")])
    before, _ = api.submit_job(kind=testing.KIND, owner_id=owner.id, project_id=project.id, params={})
    comm = communicator(project.id, viewer)
    from channels.layers import get_channel_layer

    expected = "RedisPubSubChannelLayer" if layer == "redis" else "InMemoryChannelLayer"
    assert type(get_channel_layer()).__name__ == expected

    async def scenario():
        start = dt.datetime.now(dt.UTC)
        connected, _ = await comm.connect()
        assert connected
        snapshot = stamped(await comm.receive_json_from(timeout=5), start)
        assert snapshot["type"] == "snapshot"
        assert [j["job_id"] for j in snapshot["jobs"]] == [str(before.id)]
        assert snapshot["jobs"][0]["status"] == "queued" and snapshot["jobs"][0]["queue_position"] == 1

        submitted = dt.datetime.now(dt.UTC)
        new, _ = await sync_to_async(api.submit_job)(
            kind=testing.KIND, owner_id=owner.id, project_id=project.id, params={"steps": 2}, priority=9
        )
        queued = stamped(await comm.receive_json_from(timeout=5), submitted)
        positions = stamped(await comm.receive_json_from(timeout=5), submitted)  # `before` was overtaken
        assert positions == {"type": "positions", "positions": {str(new.id): 1, str(before.id): 2}}
        assert queued == {
            "type": "job", "job_id": str(new.id), "image_id": None, "kind": testing.KIND, "status": "queued",
            "progress": 0, "stage": "queued", "queue_position": 1, "error": "", "attempts": 0, "result_ref": "",
        }
        ran = dt.datetime.now(dt.UTC)
        await sync_to_async(services.execute_next)(testing.QUEUE)
        seen = await receive_until(comm, lambda m: m.get("status") == "succeeded", since=ran)
        moved = [m for m in seen if m["type"] == "positions"]
        assert moved == [{"type": "positions", "positions": {str(before.id): 1}}]
        seen = [m for m in seen if m["type"] == "job"]
        assert all(m["job_id"] == str(new.id) for m in seen)
        assert seen[0]["status"] == "running" and seen[0]["stage"] == "loading"
        stages = [m["stage"] for m in seen if m["status"] == "running"]
        assert "inference" in stages and "saving" in stages
        assert seen[-1]["progress"] == 100 and seen[-1]["result_ref"] == "attempt-1"

        asked = dt.datetime.now(dt.UTC)
        await comm.send_json_to({"type": "snapshot"})
        fresh = stamped(await comm.receive_json_from(timeout=5), asked)
        assert fresh["type"] == "snapshot" and [j["job_id"] for j in fresh["jobs"]] == [str(before.id)]
        await comm.disconnect()

    async_to_sync(scenario)()


@pytest.mark.parametrize("who", ["stranger", "anonymous"])
def test_non_members_are_closed_with_4403(project_factory, make_user, who):
    project, _ = project_factory()
    comm = communicator(project.id, make_user() if who == "stranger" else None)

    async def scenario():
        connected, _ = await comm.connect()
        assert connected  # accepted, so that the client can read the close code
        message = await comm.receive_output(timeout=5)
        assert message == {"type": "websocket.close", "code": 4403}
        await comm.wait()

    async_to_sync(scenario)()


def test_unknown_project_is_4403(make_user):
    import uuid

    comm = communicator(uuid.uuid4(), make_user())

    async def scenario():
        await comm.connect()
        assert (await comm.receive_output(timeout=5))["code"] == 4403

    async_to_sync(scenario)()
