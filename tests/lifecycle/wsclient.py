"""A real WebSocket client (the `websockets` package) that collects progress frames with their arrival times."""

import json
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect


@dataclass
class Progress:
    frames: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""

    @property
    def statuses(self) -> list[str]:
        return [frame["status"] for frame in self.frames]

    @property
    def last(self) -> dict[str, Any]:
        return self.frames[-1]


def open_progress(base_url: str, model_id: str) -> ClientConnection:
    return connect(
        f"{base_url.replace('http://', 'ws://')}/model/{model_id}/download/progress",
        proxy=None,
        open_timeout=10,
    )


def read_frames(
    ws: ClientConnection, progress: Progress | None = None, *, timeout: float = 60, count: int | None = None
) -> Progress:
    """Read frames until the server closes the socket (or `count` frames arrived)."""
    progress = progress or Progress()
    deadline = time.monotonic() + timeout
    while count is None or len(progress.frames) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no close after {timeout} s; frames so far: {progress.frames[-5:]}")
        try:
            message = ws.recv(timeout=remaining)
        except ConnectionClosed as closed:
            received = closed.rcvd
            progress.close_code = received.code if received else None
            progress.close_reason = received.reason if received else ""
            return progress
        progress.frames.append(json.loads(message))
        progress.times.append(time.monotonic())
    return progress
