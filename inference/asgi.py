"""The lean ASGI path for /v1, /v2 and /metrics, dispatched in config/asgi.py before Django's request stack.

Django costs ~0.85 ms per request on this kind of machine; this path costs a fraction of that (DESIGN.md
section 5). Everything else goes to the wrapped application (Django).
"""

import asyncio
from typing import Any

from django.conf import settings

from config.asgi_limits import ASGIApp, Receive, Scope, Send
from inference.handlers import Reply, error_reply, handle
from inference.protocols.errors import InferenceError
from inference.protocols.routing import handles
from inference.runtime import get_runtime
from inference.triton import compression

# Bodies up to this size are (de)compressed on the event loop; larger ones in a thread (zlib releases the GIL).
_INLINE_ZLIB_BYTES = 64 * 1024


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
        encoding = accept = None
        for key, value in scope["headers"]:
            if key == b"content-encoding":
                encoding = value
            elif key == b"accept-encoding":
                accept = value
        reply: Reply | None = None
        if encoding is not None:
            try:
                body = await _decompressed(body, encoding.decode("latin-1"))
            except InferenceError as error:
                reply = error_reply(error)
        if reply is None:
            reply = await handle(self.runtime, scope["method"], scope["path"], scope["headers"], body)
        content = reply.body
        headers: list[tuple[bytes, bytes]] = [(b"content-type", reply.content_type)]
        # Only inference responses, as Triton: clients such as tritonclient.http.aio read others uncompressed
        # although their HTTP library sends Accept-Encoding on every request.
        if (
            accept is not None
            and content
            and scope["path"].endswith("/infer")
            and (answer := compression.response_encoding(accept)) is not None
        ):
            content = await _run(compression.compress, bytes(content), answer, size=len(content))
            headers.append((b"content-encoding", answer.encode()))
        headers.append((b"content-length", str(len(content)).encode()))
        if reply.header_length is not None:
            headers.append((b"inference-header-content-length", str(reply.header_length).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


async def _decompressed(body: bytearray, encoding: str) -> bytearray:
    """A Content-Encoding'd body, with the inference body limit applied to its decompressed size."""
    limit = settings.INFERENCE_MAX_REQUEST_BYTES
    return await _run(compression.decompress, body, encoding, size=len(body), limit=limit)


async def _run(function: Any, *args: Any, size: int, **kwargs: Any) -> Any:
    if size <= _INLINE_ZLIB_BYTES:
        return function(*args, **kwargs)
    return await asyncio.to_thread(function, *args, **kwargs)


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
