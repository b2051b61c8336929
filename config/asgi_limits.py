"""ASGI middleware that answers 413 before a too-large body is read (Django would spool it all to disk first)."""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(Exception):
    pass


class LimitRequestBody:
    """Per-path body limits: `limit_for(path)` returns the maximum bytes and the error key of that API family."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], tuple[int, str]]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, error_key = self.limit_for(scope["path"])
        declared = declared_length(scope)
        if declared is not None:
            if declared > limit:
                await _reject(send, limit, declared, error_key)
            else:  # the HTTP parser delivers exactly the declared length: nothing to count
                await self.app(scope, receive, send)
            return

        # A chunked body declares no length: count it as it arrives.
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _reject(send, limit, None, error_key)


def declared_length(scope: Scope) -> int | None:
    """The Content-Length a request declares, if it declares a valid one."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _reject(send: Send, limit: int, declared: int | None, error_key: str) -> None:
    size = f"{declared} bytes" if declared is not None else "more"
    body = orjson.dumps({error_key: f"Request body too large: {size}; the limit is {limit} bytes."})
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
