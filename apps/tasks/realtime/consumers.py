"""The project websocket ``/ws/projects/<project_id>/``: live job status for members.

Authenticated by ``scope["user"]`` (session cookie via AuthMiddlewareStack, or a Bearer
header via the accounts middleware). Non-members and anonymous clients are accepted and then
closed with code 4403 (so browsers can read the code). On connect: ``{"type": "snapshot",
"jobs": [...], "sent_at"}`` with the project's active jobs; then one ``{"type": "job", ...}`` per
change, each with the ``sent_at`` of its publication (see ``broadcast``).
"""

from __future__ import annotations

import asyncio
import uuid

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.images.api import check_access
from apps.images.contracts import AccessDenied, Action, ProjectNotFound
from apps.tasks import selectors
from apps.tasks.realtime import broadcast

CLOSE_FORBIDDEN = 4403


class ProjectJobsConsumer(AsyncJsonWebsocketConsumer):
    groups: list[str] = []

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        project_id = self.scope["url_route"]["kwargs"]["project_id"]
        if not isinstance(project_id, uuid.UUID):
            project_id = uuid.UUID(str(project_id))
        if user is None or not user.is_authenticated or not await self._may_view(user.id, project_id):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.project_id = project_id
        broadcast.remember_consumer_loop(asyncio.get_running_loop())
        self.group = broadcast.group_name(project_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self._send_snapshot()

    async def _send_snapshot(self) -> None:
        """The project's active jobs, in the order they will run."""
        jobs = await database_sync_to_async(selectors.active_jobs_for_project)(self.project_id)
        await self.send_json({"type": "snapshot", "project_id": str(self.project_id),
                              "jobs": [broadcast.job_message(j) for j in jobs],
                              "sent_at": broadcast.now_iso()})

    @database_sync_to_async
    def _may_view(self, user_id, project_id) -> bool:
        try:
            check_access(user_id=user_id, project_id=project_id, action=Action.VIEW)
        except (ProjectNotFound, AccessDenied):
            return False
        return True

    async def disconnect(self, code) -> None:
        group = getattr(self, "group", None)
        if group is not None:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        # The only client message understood: {"type": "snapshot"} asks for a fresh snapshot.
        if isinstance(content, dict) and content.get("type") == "snapshot" and hasattr(self, "project_id"):
            await self._send_snapshot()

    async def job_update(self, event) -> None:
        await self.send_json(event["job"])
