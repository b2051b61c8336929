"""WebSocket /deploy/{task_id}/events: the task's steps as they happen, until it ends.

The worker writes the task row; this consumer (in a server process, possibly on another host) reads it every
200 ms and sends a frame whenever it changed, so it works with any channel layer, in-memory included.
"""

import asyncio
import json
from typing import Any

from channels.db import database_sync_to_async
from django.core.serializers.json import DjangoJSONEncoder

from config.consumers import PollingJsonConsumer
from deployments.apis import task_to_dict
from deployments.models import DeploymentTask
from deployments.services import reap_if_stale

POLL_SECONDS = 0.2
CLOSE_NOT_FOUND = 4404


def _read(task_id: str) -> dict[str, Any] | None:
    task = DeploymentTask.objects.filter(pk=task_id).first()
    if task is None:
        return None
    task = reap_if_stale(task)
    frame = task_to_dict(task)
    frame["current_step"] = (task.metadata or {}).get("current_step")
    frame["final"] = task.is_final
    return frame


# Off the shared sync thread: a poll must not wait behind other requests' synchronous work.
_snapshot = database_sync_to_async(_read, thread_sensitive=False)


class DeploymentEventsConsumer(PollingJsonConsumer):
    access_policy = {"CONNECT": "read"}

    async def connect(self) -> None:
        self.task_id = self.scope["url_route"]["kwargs"]["task_id"]
        await self.accept()
        frame = await _snapshot(self.task_id)
        if (
            frame is None
        ):  # accepted first, so the client sees the code and reason rather than a failed handshake
            await self.close(code=CLOSE_NOT_FOUND, reason=f"Task {self.task_id} not found.")
            return
        self.start_polling(self._watch(frame), name=f"deployment-events-poll:{self.task_id}")

    async def _watch(self, frame: dict[str, Any]) -> None:
        last = None
        while True:
            key = (frame["status"], frame["updated_at"])
            if key != last:
                await self.send_json(frame)
                last = key
            if frame["final"]:
                await self.close()
                return
            await asyncio.sleep(POLL_SECONDS)
            frame = await _snapshot(self.task_id) or frame

    async def disconnect(self, code: int) -> None:
        self.stop_polling()

    @classmethod
    async def encode_json(cls, content: Any) -> str:
        return json.dumps(content, cls=DjangoJSONEncoder)
