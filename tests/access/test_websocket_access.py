"""WebSocket access is decided on the consumer Channels actually runs, and stays decided while the socket lives
(issue 20, findings 13 and 6)."""

import asyncio
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import re_path

from access.keys import key_revoke
from access.websockets import websocket_application


class DeployOnly(AsyncWebsocketConsumer):
    access_policy = {"CONNECT": "deploy"}

    async def connect(self) -> None:
        await self.accept()
        await self.send("deploy-only frame")


class ReadAnything(AsyncWebsocketConsumer):
    access_policy = {"CONNECT": "read"}

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=4404)


class Ticker(AsyncWebsocketConsumer):
    """Sends a frame whenever the client sends one (a progress socket pushing events)."""

    access_policy = {"CONNECT": "read"}

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send("tick")


ROUTES = [
    re_path(r"^secret/$", DeployOnly.as_asgi()),
    re_path(r"^ticker/$", Ticker.as_asgi()),
    re_path(r"", ReadAnything.as_asgi()),
]


def communicator(path: str, key: str) -> ApplicationCommunicator:
    headers = [(b"host", b"127.0.0.1:8000"), (b"authorization", f"Bearer {key}".encode())]
    scope = {"type": "websocket", "path": path, "headers": headers, "query_string": b"", "subprotocols": []}
    return ApplicationCommunicator(websocket_application(ROUTES), scope)


async def first_two(path: str, key: str) -> list[dict[str, Any]]:
    ws = communicator(path, key)
    await ws.send_input({"type": "websocket.connect"})
    messages = [await ws.receive_output(timeout=5), await ws.receive_output(timeout=5)]
    await ws.send_input({"type": "websocket.disconnect", "code": 1000})
    await ws.wait(timeout=2)
    return messages


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/secret/", "//secret/", "///secret/"])
def test_the_scope_checked_is_the_scope_of_the_consumer_that_runs(auth_mode, make_key, path: str) -> None:
    """Channels strips leading slashes: `//secret/` runs DeployOnly, so it must need `deploy`, not the catch-all's
    `read` (the old check resolved the path on its own and chose the catch-all)."""
    auth_mode("all")
    accepted, closed = asyncio.run(first_two(path, make_key("read")))
    assert accepted["type"] == "websocket.accept"
    assert closed == {
        "type": "websocket.close",
        "code": 4403,
        "reason": "The key 'key-0-read' does not have the 'deploy' scope.",
    }
    allowed = asyncio.run(first_two(path, make_key("deploy")))
    assert allowed[1] == {"type": "websocket.send", "text": "deploy-only frame"}


@pytest.mark.django_db(transaction=True)
def test_a_revoked_key_loses_its_open_socket_within_the_cache_time(auth_mode, make_key, settings) -> None:
    auth_mode("all")
    settings.MODELHUB_KEY_CACHE_SECONDS = 1.0
    key = make_key("read")

    async def scenario() -> list[dict[str, Any]]:
        ws = communicator("/ticker/", key)
        await ws.send_input({"type": "websocket.connect"})
        seen = [await ws.receive_output(timeout=5)]
        await ws.send_input({"type": "websocket.receive", "text": "?"})
        seen.append(await ws.receive_output(timeout=5))
        from access.models import APIKey

        row = await database_sync_to_async(APIKey.objects.get)(name="key-0-read")
        await database_sync_to_async(key_revoke)(key_id=row.pk)
        # Idle: the watchdog closes it within the cache time, with no frame in between.
        seen.append(await ws.receive_output(timeout=5))
        await ws.send_input(
            {"type": "websocket.receive", "text": "?"}
        )  # the consumer's later frames go nowhere
        await ws.send_input({"type": "websocket.disconnect", "code": 4401})
        await ws.wait(timeout=2)
        return seen

    accepted, tick, closed = asyncio.run(scenario())
    assert accepted["type"] == "websocket.accept" and tick["text"] == "tick"
    assert closed["type"] == "websocket.close" and closed["code"] == 4401
