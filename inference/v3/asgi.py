"""The lean ASGI path of /v3 (dispatched by inference/asgi.py): access first, then the route, the body, the reply.

Order of decisions (docs/security.md): Host and cross-site checks and the access policy are decided from the
request line and headers before the body is read; a refused or unknown request costs no parsing. Streamed replies
are server-sent events; a client that disconnects cancels its generation at once.
"""

import asyncio
import logging
from typing import Any

import orjson

from access import policy
from config.asgi_limits import ASGIApp, Receive, Scope, Send
from inference.asgi import ClientDisconnected, _browser_refusal, _decompressed, _Headers, _read_body
from inference.protocols.errors import InferenceError
from inference.runtime import Runtime, get_runtime
from inference.triton import compression
from inference.v3 import handlers
from inference.v3.errors import V3Error
from inference.v3.routing import SCOPE_OF_KIND, V3Kind, handles, resolve

logger = logging.getLogger(__name__)

JSON = b"application/json"
_INLINE_JSON_BYTES = 64 * 1024


class OpenAIRouter:
    """Answers /v3 paths; everything else goes to the wrapped application."""

    def __init__(self, fallback: ASGIApp) -> None:
        self.fallback = fallback
        self.runtime = get_runtime()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and handles(scope["path"]):
            await serve(self.runtime, scope, receive, send)
        else:
            await self.fallback(scope, receive, send)


async def serve(runtime: Runtime, scope: Scope, receive: Receive, send: Send) -> None:
    headers = _Headers(scope["headers"])
    refusal = _browser_refusal(scope["method"], headers)
    if refusal is not None:
        await _reply(send, refusal.status, refusal.body)
        return
    route = resolve(scope["method"], scope["path"])
    required = SCOPE_OF_KIND[route.kind] if route.kind is not None else "infer"
    policy.current_principal.set(policy.ANONYMOUS)
    if policy.mode() != policy.OFF and (headers.authorization is not None or policy.needs_key(required)):
        try:
            principal = await policy.aauthorize(required, headers.authorization)
        except policy.AccessDenied as denied:
            await _reply(send, denied.status, orjson.dumps({"error": denied.message}))
            return
        policy.current_principal.set(principal)
    if route.kind is None:
        await _reply(send, 404, V3Error(f"Unknown path {scope['path']}", 404).body())
        return
    if not route.method_allowed:
        await _reply(
            send, 405, V3Error(f"Method {scope['method']} is not allowed on {scope['path']}", 405).body()
        )
        return
    if route.kind is V3Kind.MODELS:
        await _reply(send, 200, orjson.dumps(handlers.list_models(runtime)))
        return
    if route.kind is V3Kind.MODEL:
        try:
            await _reply(send, 200, orjson.dumps(handlers.retrieve_model(runtime, route.name)))
        except V3Error as error:
            await _reply(send, error.status, error.body())
        return
    try:
        body = await _read_body(receive, headers.content_length)
    except ClientDisconnected:
        return
    try:
        if headers.content_encoding is not None:
            try:
                body = await _decompressed(body, headers.content_encoding.decode("latin-1"))
            except InferenceError as error:
                raise V3Error(error.text, error.status) from None
        document = await _parse(body)
        handlers.requests.model_name(document)
        answer = await _answer(runtime, route.kind, document, receive)
    except V3Error as error:
        await _reply(send, error.status, error.body())
        return
    except Exception:
        logger.exception("Unexpected failure answering POST %s", scope["path"])
        await _reply(send, 500, V3Error("Internal server error", 500).body())
        return
    if isinstance(answer, handlers.Stream):
        await _send_stream(answer, receive, send)
        return
    if answer is None:  # the client went away while the reply was computed
        return
    encoding = compression.response_encoding(headers.accept_encoding) if headers.accept_encoding else None
    if encoding is not None and len(answer) > 1024:
        compressed = await asyncio.to_thread(compression.compress, answer, encoding)
        await _reply(send, 200, compressed, encoding.encode())
        return
    await _reply(send, 200, answer)


async def _parse(body: bytes | bytearray) -> Any:
    try:
        if len(body) <= _INLINE_JSON_BYTES:
            return orjson.loads(body)
        return await asyncio.to_thread(orjson.loads, body)
    except orjson.JSONDecodeError as exc:
        raise V3Error(f"Cannot parse JSON body - {exc}") from None


async def _answer(
    runtime: Runtime, kind: V3Kind, document: Any, receive: Receive
) -> bytes | handlers.Stream | None:
    """Run the request; a client that disconnects meanwhile cancels it (a unary generation stops too)."""
    if kind is V3Kind.CHAT:
        work = handlers.generate(runtime, document, chat=True)
    elif kind is V3Kind.COMPLETIONS:
        work = handlers.generate(runtime, document, chat=False)
    elif kind is V3Kind.EMBEDDINGS:
        work = handlers.embeddings(runtime, document)
    else:
        work = handlers.rerank(runtime, document)
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(receive))
    done, _ = await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        watcher.cancel()
        return task.result()
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):
        pass
    return None


async def _disconnected(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _send_stream(stream: handlers.Stream, receive: Receive, send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/event-stream"),
                (b"cache-control", b"no-cache"),
                (b"x-accel-buffering", b"no"),  # nginx: pass events through as they come
            ],
        }
    )
    watcher = asyncio.ensure_future(_disconnected(receive))
    watcher.add_done_callback(lambda _: stream.generation.cancel())  # ends the events below at once
    events = stream.events
    try:
        async for event in events:
            if watcher.done():
                break
            await send({"type": "http.response.body", "body": event, "more_body": True})
        if not watcher.done():
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    except OSError:  # the connection is gone
        pass
    finally:
        watcher.cancel()
        stream.generation.cancel()
        await events.aclose()  # type: ignore[attr-defined]
        stream.recorder.failed()  # no-op when the stream counted itself


async def _reply(send: Send, status: int, body: bytes, encoding: bytes | None = None) -> None:
    headers = [(b"content-type", JSON), (b"content-length", str(len(body)).encode())]
    if encoding is not None:
        headers.append((b"content-encoding", encoding))
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="modelhub"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
