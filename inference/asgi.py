"""The lean ASGI path for /v1, /v2 and /metrics, dispatched in config/asgi.py before Django's request stack.

Django costs ~0.85 ms per request on this kind of machine; this path costs a fraction of that (DESIGN.md
section 5). Everything else goes to the wrapped application (Django).
"""

from typing import Any

from config.asgi_limits import ASGIApp, Receive, Scope, Send
from inference.handlers import handle
from inference.protocols.routing import handles
from inference.runtime import get_runtime


class ClientDisconnected(Exception):
    pass


class InferenceRouter:
    def __init__(self, fallback: ASGIApp) -> None:
        self.fallback = fallback
        self.runtime = get_runtime()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not handles(scope["path"]):
            await self.fallback(scope, receive, send)
            return
        try:
            body = await _read_body(receive)
        except ClientDisconnected:
            return
        reply = await handle(self.runtime, scope["method"], scope["path"], scope["headers"], body)
        headers: list[tuple[bytes, bytes]] = [
            (b"content-type", reply.content_type),
            (b"content-length", str(len(reply.body)).encode()),
        ]
        if reply.header_length is not None:
            headers.append((b"inference-header-content-length", str(reply.header_length).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})


async def _read_body(receive: Receive) -> bytearray:
    """The whole body, writeable: binary tensors become numpy views of it that OpenVINO can share (no copy)."""
    message: dict[str, Any] = await receive()  # type: ignore[assignment]
    if message["type"] == "http.disconnect":
        raise ClientDisconnected()
    if not message.get("more_body"):
        return bytearray(message.get("body", b""))
    chunks = [message.get("body", b"")]
    while True:
        message = await receive()  # type: ignore[assignment]
        if message["type"] == "http.disconnect":
            raise ClientDisconnected()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return bytearray().join(chunks)
