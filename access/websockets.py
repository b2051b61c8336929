"""Channels middleware: every WebSocket goes through the same policy as HTTP before its consumer runs.

A consumer declares `access_policy = {"CONNECT": "read"}`. Refusals:
- foreign Host or Origin (cross-site WebSocket hijacking, DNS rebinding): the handshake is rejected (HTTP 403)
  before anything is accepted;
- no key / wrong key (4401) or a key without the scope (4403): accepted and closed at once with that code and
  the reason, so that a client can tell why (a rejected handshake carries no code); no frame is sent.
The key travels in the Authorization header (non-browser clients); browsers, which cannot set headers on a
WebSocket, use their session login (the admin's), checked together with the Origin. No `?token=` parameter:
query strings end up in access logs and proxies.
"""

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.urls import URLPattern
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RegexPattern, URLResolver

from access.browser import websocket_refusal
from access.keys import principal_for_user
from access.policy import (
    OFF,
    AccessDenied,
    Principal,
    aprincipal_from_authorization,
    current_principal,
    decide,
    mode,
    scope_for_method,
)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


def consumer_of(resolver: URLResolver, path: str) -> type | None:
    try:
        match = resolver.resolve(path)
    except Resolver404:
        return None
    return getattr(match.func, "consumer_class", None)


class WebSocketAccessMiddleware:
    def __init__(self, inner: Any, routes: list[URLPattern]) -> None:
        self.inner = inner
        self.resolver = URLResolver(RegexPattern(r"^/"), routes)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.inner(scope, receive, send)
            return
        headers = {key.lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}
        if websocket_refusal(headers.get(b"host"), headers.get(b"origin")):
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": CLOSE_FORBIDDEN})
            return
        consumer = consumer_of(self.resolver, scope["path"])
        if consumer is None:
            await self.inner(scope, receive, send)  # the router answers unknown paths
            return
        required = scope_for_method(getattr(consumer, "access_policy", None), "CONNECT")
        try:
            if required is None:
                raise AccessDenied(403, "This WebSocket route declares no access policy.")
            principal = await self._principal(scope, headers.get(b"authorization"))
            principal = decide(required, principal)
        except AccessDenied as denied:
            await receive()
            code = CLOSE_UNAUTHENTICATED if denied.status == 401 else CLOSE_FORBIDDEN
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": code, "reason": denied.message[:120]})
            return
        current_principal.set(principal)
        await self.inner({**scope, "principal": principal}, receive, send)

    async def _principal(self, scope: dict[str, Any], authorization: str | None) -> Principal | None:
        if mode() == OFF:
            return None
        principal = await aprincipal_from_authorization(authorization)
        if principal is None and scope.get("user") is not None:
            principal = await database_sync_to_async(principal_for_user)(scope["user"])
        return principal


def websocket_application(router: Any, routes: list[URLPattern]) -> Any:
    """Session login (AuthMiddlewareStack) -> access check -> the URL router."""
    return AuthMiddlewareStack(WebSocketAccessMiddleware(router, routes))
