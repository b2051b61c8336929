"""WebSocket /model/{model}/download/progress: JSON frames of one model's download until it ends.

The first frame is the current state (so a late subscriber is never left waiting); then a frame on every
change, from polling the job row (works with any channel layer, across processes) and from channel-layer
messages sent by whoever changed the job (faster, and across processes with Redis). The socket closes with
1000 after a terminal status (COMPLETED, FAILED, CANCELED), and with 4404 for an unknown model.
"""

import asyncio
import logging
import time
from typing import Any

from channels.db import database_sync_to_async

from config.consumers import PollingJsonConsumer
from inference.lifecycle import selectors, services
from inference.lifecycle.events import group_name, is_terminal
from inference.lifecycle.models import DownloadStatus

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.1
STALE_CHECK_SECONDS = 1.0
CLOSE_NOT_FOUND = 4404


class DownloadProgressConsumer(PollingJsonConsumer):
    access_policy = {"CONNECT": "read"}

    async def connect(self) -> None:
        self.model_id: str = self.scope["url_route"]["kwargs"]["model"]
        self.group: str | None = None
        self.last: tuple[int, dict[str, Any]] | None = None
        self.finished = False
        await self.accept()
        if not await database_sync_to_async(selectors.model_exists)(model_id=self.model_id):
            self.finished = True
            reason = f"Model {self.model_id!r} was not found."
            await self.close(code=CLOSE_NOT_FOUND, reason=reason.encode()[:120].decode(errors="ignore"))
            return
        try:
            await self.channel_layer.group_add(group_name(self.model_id), self.channel_name)
            self.group = group_name(self.model_id)
        except Exception:  # e.g. Redis unreachable: polling alone still delivers every change
            logger.warning(
                "Channel layer unavailable; progress of %s by polling only", self.model_id, exc_info=True
            )
        frame, version = await database_sync_to_async(selectors.download_frame, thread_sensitive=False)(
            model_id=self.model_id
        )
        await self._emit(frame, version)
        if not self.finished:
            self.start_polling(self._poll(), name=f"download-progress-poll:{self.model_id}")

    async def disconnect(self, code: int) -> None:
        self.finished = True
        self.stop_polling()
        if self.group is not None:
            try:
                await self.channel_layer.group_discard(self.group, self.channel_name)
            except Exception:
                logger.debug("group_discard failed", exc_info=True)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Clients need not send anything; whatever they send is answered with the current state."""
        frame, version = await database_sync_to_async(selectors.download_frame, thread_sensitive=False)(
            model_id=self.model_id
        )
        self.last = None
        await self._emit(frame, version)

    async def download_progress(self, event: dict[str, Any]) -> None:
        await self._emit(event["frame"], event["version"])

    async def _poll(self) -> None:
        last_stale_check = time.monotonic()
        try:
            while not self.finished:
                await asyncio.sleep(POLL_SECONDS)
                frame, version = await database_sync_to_async(
                    selectors.download_frame, thread_sensitive=False
                )(model_id=self.model_id)
                if (
                    frame["status"] == DownloadStatus.IN_PROGRESS
                    and time.monotonic() - last_stale_check >= STALE_CHECK_SECONDS
                ):
                    last_stale_check = time.monotonic()
                    await database_sync_to_async(services.download_recover_if_stale)(model_id=self.model_id)
                await self._emit(frame, version)
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("Progress polling of %s failed", self.model_id)
            if not self.finished:
                self.finished = True
                await self.close(code=1011)

    async def _emit(self, frame: dict[str, Any], version: int) -> None:
        """Send a frame unless it is older than, or the same as, the last one sent (two routes deliver)."""
        if self.finished:
            return
        if self.last is not None and (
            version < self.last[0] or (version == self.last[0] and frame == self.last[1])
        ):
            return
        self.last = (version, frame)
        await self.send_json(frame)
        if is_terminal(frame):
            self.finished = True
            await self.close(code=1000)
