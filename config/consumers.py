"""Base of the WebSocket consumers that poll the database for their socket: the poll lives exactly as long
as the socket.

A consumer's background task must stop however the socket ends: a client close (websocket.disconnect), a
close by the consumer, or the consumer itself dying (e.g. its channel-layer receive raising when Redis goes
away: Channels then never calls `disconnect`, and a bare task would poll the database forever).
"""

import asyncio
from collections.abc import Coroutine
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

# Every running poll task of this process (read by tests and worth a glance in a debugger).
running_polls: set[asyncio.Task[Any]] = set()


class PollingJsonConsumer(AsyncJsonWebsocketConsumer):
    poll_task: asyncio.Task[Any] | None = None

    def start_polling(self, coroutine: Coroutine[Any, Any, Any], *, name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        running_polls.add(task)
        task.add_done_callback(running_polls.discard)
        self.poll_task = task

    def stop_polling(self) -> None:
        task, self.poll_task = self.poll_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.stop_polling()

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        self.stop_polling()
        await super().websocket_disconnect(message)
