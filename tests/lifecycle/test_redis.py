"""Progress across processes with the Redis channel layer: the worker's frames reach Redis subscribers.

Needs a `redis-server` binary (Debian: `apt-get install redis-server`); skipped with that reason otherwise.
"""

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
import requests
from channels_redis.core import RedisChannelLayer

from config.redis import channel_layer
from inference.lifecycle.events import EVENT_TYPE, group_name
from tests.lifecycle.conftest import model_zip, sha256_of
from tests.lifecycle.fileserver import FileServer, Served
from tests.lifecycle.test_live import register_url
from tests.lifecycle.wsclient import open_progress, read_frames
from tests.live import LiveService, free_port, live_service

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        shutil.which("redis-server") is None,
        reason="redis-server is not installed (apt-get install redis-server)",
    ),
]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.05)
    yield url
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[LiveService]:
    with live_service(
        tmp_path_factory.mktemp("lifecycle-redis"),
        workers=2,
        env={"REDIS_URL": redis_url, "MODELHUB_SOURCE_URL_ALLOW": "127.0.0.1"},
    ) as service:
        yield service


async def _collect_from_redis(redis_url: str, model_id: str, start: "callable") -> list[dict]:  # type: ignore[valid-type]
    layer = RedisChannelLayer(**channel_layer(redis_url)["CONFIG"])  # as the server connects (no 5 s timeout)
    channel = await layer.new_channel()
    await layer.group_add(group_name(model_id), channel)
    start()
    frames = []
    try:
        while not frames or frames[-1]["status"] not in ("COMPLETED", "FAILED", "CANCELED"):
            message = await asyncio.wait_for(layer.receive(channel), timeout=20)
            assert message["type"] == EVENT_TYPE
            frames.append(message["frame"])
    finally:
        await layer.group_discard(group_name(model_id), channel)
        await layer.flush()
    return frames


def test_worker_progress_reaches_redis_and_the_websocket(live, redis_url, tmp_path):
    source = FileServer().start()
    try:
        archive = model_zip(tmp_path, padding=1_000_000)
        model_id = register_url(
            live, source.serve("/r.zip", Served(archive, rate=800_000)), sha256=sha256_of(archive)
        )
        with open_progress(live.url, model_id) as ws:
            read_frames(ws, count=1, timeout=5)

            def start() -> None:
                assert requests.post(f"{live.url}/model/{model_id}/download", timeout=10).status_code == 200

            published = asyncio.run(_collect_from_redis(redis_url, model_id, start))
            progress = read_frames(ws, timeout=30)
    finally:
        source.stop()

    fetching = [
        frame for frame in published if frame["status"] == "IN-PROGRESS" and frame["phase"] == "fetch"
    ]
    assert len(fetching) >= 5, published  # sent by the worker process, received here through Redis
    assert published[-1]["status"] == "COMPLETED"
    assert progress.last["status"] == "COMPLETED" and progress.close_code == 1000
    assert sum(frame["status"] == "IN-PROGRESS" for frame in progress.frames) >= 5
