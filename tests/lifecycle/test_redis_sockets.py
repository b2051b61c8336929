"""WebSockets on the Redis channel layer stay open while idle, and their database poll ends with them.

The real consumers, the real channels-redis layer (settings as config/redis.py builds them) and a real
redis-server; the socket is driven by Channels' test communicator in this process, so the poll tasks can be
counted. Needs `redis-server` (skipped with that reason otherwise).
"""

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from asgiref.testing import ApplicationCommunicator
from channels.layers import get_channel_layer
from channels.routing import URLRouter

from config.consumers import running_polls
from config.redis import channel_layer
from config.websockets import websocket_urlpatterns
from deployments.models import DeploymentTask
from registry.models import Model
from tests.live import free_port

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed"),
]

IDLE_SECONDS = 11  # more than twice the 5 s that used to kill an idle socket


class RedisServer:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path: Path, settings: object) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    settings.CHANNEL_LAYERS = {"default": channel_layer(server.url)}  # type: ignore[attr-defined]
    yield server
    server.stop()


class Socket(ApplicationCommunicator):
    """A WebSocket client at the ASGI level (channels.testing would need daphne)."""

    def __init__(self, path: str) -> None:
        scope = {"type": "websocket", "path": path, "headers": [], "query_string": b"", "subprotocols": []}
        super().__init__(URLRouter(websocket_urlpatterns), scope)

    async def connect(self) -> None:
        await self.send_input({"type": "websocket.connect"})
        assert (await self.receive_output(timeout=10))["type"] == "websocket.accept"

    async def receive_json(self) -> dict:
        message = await self.receive_output(timeout=10)
        assert message["type"] == "websocket.send", message
        return json.loads(message["text"])

    async def disconnect(self) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.wait(timeout=10)


def polls() -> list[asyncio.Task]:
    return [task for task in running_polls if not task.done()]


async def idle_then_close(path: str, *, first_status: str) -> None:
    communicator = Socket(path)
    await communicator.connect()
    assert (await communicator.receive_json())["status"] == first_status
    assert len(polls()) == 1
    # nothing happens for a while: the socket must neither close nor fail (receive_nothing raises the
    # consumer's exception if it died)
    assert await communicator.receive_nothing(timeout=IDLE_SECONDS, interval=0.5)
    assert len(polls()) == 1
    await communicator.disconnect()
    await asyncio.sleep(0.3)
    assert polls() == []


def test_an_idle_download_progress_socket_stays_open_and_its_poll_ends_with_it(redis_server):
    model = Model.objects.create(id="idle", name="idle", version="1")
    assert get_channel_layer().__class__.__name__ == "RedisChannelLayer"
    asyncio.run(idle_then_close(f"/model/{model.pk}/download/progress", first_status="UNKNOWN"))


def test_an_idle_deployment_events_socket_stays_open_and_its_poll_ends_with_it(redis_server):
    model = Model.objects.create(id="deployed", name="deployed", version="1")
    task = DeploymentTask.objects.create(kind="deploy", model_id=model.pk, status="pending")
    asyncio.run(idle_then_close(f"/deploy/{task.pk}/events", first_status="pending"))


async def socket_outlived_by_redis(path: str, server: RedisServer) -> None:
    communicator = Socket(path)
    await communicator.connect()
    await communicator.receive_json()
    assert len(polls()) == 1
    server.stop()  # the consumer's channel-layer receive fails: the consumer dies without `disconnect`
    with pytest.raises(Exception):  # noqa: B017 (whatever redis-py raises for a lost server)
        for _ in range(60):
            await communicator.receive_nothing(timeout=0.5)
    await asyncio.sleep(0.3)
    assert polls() == []


def test_a_consumer_killed_by_a_lost_redis_stops_its_poll(redis_server):
    model = Model.objects.create(id="orphan", name="orphan", version="1")
    asyncio.run(socket_outlived_by_redis(f"/model/{model.pk}/download/progress", redis_server))
