"""The lean ASGI path for /v1, /v2 and /metrics, dispatched in config/asgi.py before Django's request stack.

Django costs ~0.85 ms per request on this kind of machine; this path costs a fraction of that (DESIGN.md
section 5). Everything else goes to the wrapped application (Django).

Access (docs/security.md): one pass over the headers checks Host (DNS rebinding) and refuses POSTs sent by
another site's page; with MODELHUB_AUTH=writes|all the route's scope (SCOPE_OF_KIND) goes through
access.policy. With "off", or an anonymous scope and no Authorization header, no auth work is done.

Order (DESIGN.md section 11): access, then method and path (under "all" a request that matches no route needs
a key too, so routes cannot be probed), then the model, all from the request line and headers; only then is the
body read, decompressed (inference.protocols.limits) and parsed. A refused body is read and dropped, not kept.
"""

import asyncio
from typing import Any

import orjson

from access import policy
from access.browser import CROSS_SITE_REFUSED, HOST_REFUSED, cross_site_refusal, host_allowed
from config.asgi_limits import ASGIApp, Receive, Scope, Send
from inference.handlers import Reply, error_reply, handle, target
from inference.protocols import limits
from inference.protocols.errors import InferenceError
from inference.protocols.routing import Kind, Route, handles, resolve
from inference.runtime import LoadedVersion, get_runtime
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
        route: Route | None = None
        version: LoadedVersion | None = None
        policy.current_principal.set(policy.ANONYMOUS)  # until a key says otherwise (audit of config reloads)
        headers = _Headers(scope["headers"])
        reply = _browser_refusal(scope["method"], headers)
        if reply is None and policy.mode() != policy.OFF:
            route, reply = await _access(scope, headers.authorization)
        if reply is None:
            route, version, reply = self._target(scope, route)
        if reply is not None:
            await _drain(receive)
            await _send(send, reply)
            return
        try:
            body = await _read_body(receive, headers.content_length)
        except ClientDisconnected:
            return
        reply = None
        if (
            headers.content_encoding is not None
        ):  # Triton's compression: the limits apply to the decompressed size
            try:
                body = await _decompressed(body, headers.content_encoding.decode("latin-1"), route, headers)
            except InferenceError as error:
                reply = error_reply(error)
        if reply is None:
            reply = await handle(
                self.runtime,
                scope["method"],
                scope["path"],
                body,
                route,
                header_length=headers.header_length,
                version=version,
            )
        if (
            headers.accept_encoding is not None
            and reply.body
            and compression.compresses(scope["path"], reply.status)
            and (answer := compression.response_encoding(headers.accept_encoding)) is not None
        ):
            compressed = await _run(compression.compress, bytes(reply.body), answer, size=len(reply.body))
            await _send(send, reply, compressed, answer.encode())
            return
        await _send(send, reply)

    def _target(
        self, scope: Scope, route: Route | None
    ) -> tuple[Route | None, LoadedVersion | None, Reply | None]:
        """The route and, for inference, the model version, before the body is read; a reply when either fails
        (the handler would give the same one: route errors are left to it)."""
        try:
            route = route or resolve(scope["method"], scope["path"])
        except InferenceError:
            return None, None, None
        try:
            return route, target(self.runtime, route), None
        except InferenceError as error:
            return route, None, error_reply(error)


async def _decompressed(
    body: bytearray, encoding: str, route: Route | None = None, headers: "_Headers | None" = None
) -> bytearray:
    """A Content-Encoding'd body within the limits of inference.protocols.limits: JSON (every body but a KServe
    inference request with binary tensors; any body when called without a route, as /v3 does) has the lower size
    limit and a ratio limit."""
    binary = route is not None and route.kind is Kind.KFS_INFER and headers is not None
    json = not (binary and headers is not None and headers.header_length is not None)
    return await _run(limits.decompress_request, body, encoding, size=len(body), json=json)  # type: ignore[no-any-return]


async def _run(function: Any, *args: Any, size: int, **kwargs: Any) -> Any:
    if size <= _INLINE_ZLIB_BYTES:
        return function(*args, **kwargs)
    return await asyncio.to_thread(function, *args, **kwargs)


class _Headers:
    """The request headers this path looks at, found in one pass."""

    __slots__ = (
        "host", "origin", "fetch_site", "authorization", "content_encoding", "accept_encoding", "header_length",
        "content_length",
    )  # fmt: skip

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.host = self.origin = self.fetch_site = self.authorization = None
        self.content_encoding = self.accept_encoding = self.header_length = self.content_length = None
        for key, value in headers:
            if key == b"host":
                self.host = value
            elif key == b"origin":
                self.origin = value
            elif key == b"sec-fetch-site":
                self.fetch_site = value
            elif key == b"authorization":
                self.authorization = value
            elif key == b"content-encoding":
                self.content_encoding = value
            elif key == b"accept-encoding":
                self.accept_encoding = value
            elif key == b"content-length":
                self.content_length = value
            elif key == b"inference-header-content-length" and self.header_length is None:
                self.header_length = value  # the first one, as the handlers read it before


def _browser_refusal(method: str, headers: _Headers) -> Reply | None:
    host_text = headers.host.decode("latin-1") if headers.host is not None else None
    if host_text is not None and not host_allowed(host_text):
        return Reply(400, b'{"error":"' + HOST_REFUSED.encode() + b'"}')
    origin, fetch_site = headers.origin, headers.fetch_site
    if (origin is not None or fetch_site is not None) and cross_site_refusal(
        method,
        host_text,
        origin.decode("latin-1") if origin is not None else None,
        fetch_site.decode("latin-1") if fetch_site is not None else None,
    ):
        return Reply(403, b'{"error":"' + CROSS_SITE_REFUSED.encode() + b'"}')
    return None


async def _access(scope: Scope, authorization: bytes | None) -> tuple[Route | None, Reply | None]:
    """The route (resolved once, handed to the handler) and a refusal, if any. Sets the audit principal."""
    try:
        route = resolve(scope["method"], scope["path"])
    except InferenceError:
        # The handler answers the protocol's 400/406 (nothing runs); where even reading needs a key, only to a
        # caller with a valid key, so that an anonymous client cannot tell which routes exist (issue 24).
        if not policy.needs_key(policy.READ) or not policy.needs_key(policy.INFER):
            return None, None
        try:
            principal = await policy.aprincipal_from_authorization(authorization)
        except policy.AccessDenied as denied:
            return None, Reply(denied.status, policy_error_body(denied.message))
        if principal is None:
            return None, Reply(401, policy_error_body(KEY_REQUIRED))
        policy.current_principal.set(principal)
        return None, None
    required = policy.scope_of_kind(route.kind)
    if authorization is None and not policy.needs_key(required):
        return route, None
    try:
        principal = await policy.aauthorize(required, authorization)
    except policy.AccessDenied as denied:
        return route, Reply(denied.status, policy_error_body(denied.message))
    policy.current_principal.set(principal)
    return route, None


KEY_REQUIRED = "Authentication required: send 'Authorization: Bearer <key>'."


def policy_error_body(message: str) -> bytes:
    return orjson.dumps({"error": message})


async def _send(send: Send, reply: Reply, body: bytes | None = None, encoding: bytes | None = None) -> None:
    """`body`: the reply's body encoded with `encoding` (response compression)."""
    content = reply.body if body is None else body
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", reply.content_type),
        (b"content-length", str(len(content)).encode()),
    ]
    if encoding is not None:
        headers.append((b"content-encoding", encoding))
    if reply.header_length is not None:
        headers.append((b"inference-header-content-length", str(reply.header_length).encode()))
    if reply.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="modelhub"'))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


async def _drain(receive: Receive) -> None:
    """Read and drop a refused request's body, piece by piece (never kept whole), so the connection can carry
    the next request."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body"):
            return


async def _read_body(receive: Receive, content_length: bytes | None = None) -> bytearray:
    """The whole body, writeable: binary tensors become numpy views of it that OpenVINO can share (no copy).
    A body in several pieces with a Content-Length goes straight into one buffer of that size (the HTTP server
    delivers exactly that many bytes, and LimitRequestBody has bounded it): its peak is the body, not twice it."""
    message: dict[str, Any] = await receive()  # type: ignore[assignment]
    if message["type"] == "http.disconnect":
        raise ClientDisconnected()
    if not message.get("more_body"):
        return bytearray(message.get("body", b""))
    size = _length(content_length)
    if size is None:
        chunks = [message.get("body", b"")]
        while True:
            message = await receive()  # type: ignore[assignment]
            if message["type"] == "http.disconnect":
                raise ClientDisconnected()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                return bytearray().join(chunks)
    body = bytearray(size)
    filled = 0
    with memoryview(body) as view:
        while True:
            chunk = message.get("body", b"")
            if filled + len(chunk) > size:
                raise ClientDisconnected()  # more than declared: the HTTP server would not deliver it
            view[filled : filled + len(chunk)] = chunk
            filled += len(chunk)
            if not message.get("more_body"):
                break
            message = await receive()  # type: ignore[assignment]
            if message["type"] == "http.disconnect":
                raise ClientDisconnected()
    if filled < size:
        del body[filled:]
    return body


def _length(value: bytes | None) -> int | None:
    if value is None or not value.isdigit():
        return None
    return int(value)
