"""Channels: every WebSocket goes through the same policy as HTTP, checked on the consumer that actually runs.

A consumer declares `access_policy = {"CONNECT": "read"}`. Channels' URLRouter picks the route (it strips
leading slashes, so `//model/x/download/progress` is the progress route); the check is a wrapper around each
route's consumer, so it runs on the route that URLRouter chose, never on a second resolution of the path that
could disagree with it. Refusals:
- foreign Host or Origin (cross-site WebSocket hijacking, DNS rebinding): the handshake is rejected (HTTP 403)
  before anything is accepted;
- no key / wrong key (4401) or a key without the scope (4403): accepted and closed at once with that code and
  the reason, so that a client can tell why (a rejected handshake carries no code); no frame is sent.
A socket stays open only while its key (or its admin login) still has the scope: the check runs again before
a frame is sent once the key's cached verification has expired, and at least every MODELHUB_KEY_CACHE_SECONDS
while the socket is idle; a revoked, expired or narrowed key gets 4401/4403 within that time.
The key travels in the Authorization header (non-browser clients); browsers, which cannot set headers on a
WebSocket, use their session login (the admin's), checked together with the Origin. No `?token=` parameter:
query strings end up in access logs and proxies.
"""

import asyncio
import contextlib
import time
from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from django.conf import settings
from django.urls import URLPattern

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
MIN_RECHECK_SECONDS = 1.0


def _close_code(denied: AccessDenied) -> int:
    return CLOSE_UNAUTHENTICATED if denied.status == 401 else CLOSE_FORBIDDEN


class HostOriginGuard:
    """Foreign Host or Origin: the handshake is rejected before any routing."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            headers = dict(scope.get("headers", []))
            host, origin = headers.get(b"host"), headers.get(b"origin")
            if websocket_refusal(
                host.decode("latin-1") if host else None, origin.decode("latin-1") if origin else None
            ):
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": CLOSE_FORBIDDEN})
                return
        await self.inner(scope, receive, send)


async def _principal(scope: dict[str, Any]) -> Principal | None:
    if mode() == OFF:
        return None
    authorization = dict(scope.get("headers", [])).get(b"authorization")
    principal = await aprincipal_from_authorization(authorization)
    user = scope.get("user")
    if principal is None and getattr(user, "is_authenticated", False):
        principal = await database_sync_to_async(_fresh_user_principal)(user)
    return principal


def _fresh_user_principal(user: Any) -> Principal | None:
    """The session's user as the database has it now (a deactivated or demoted admin loses the socket too)."""
    return principal_for_user(type(user)._default_manager.filter(pk=user.pk).first())


class GuardedConsumer:
    """One route's consumer behind the access decision for that very consumer."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.consumer_class = getattr(app, "consumer_class", None)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        required = scope_for_method(getattr(self.consumer_class, "access_policy", None), "CONNECT")
        try:
            if required is None:
                raise AccessDenied(403, "This WebSocket route declares no access policy.")
            principal = decide(required, await _principal(scope))
        except AccessDenied as denied:
            await receive()
            await send({"type": "websocket.accept"})
            await send(
                {"type": "websocket.close", "code": _close_code(denied), "reason": denied.message[:120]}
            )
            return
        current_principal.set(principal)
        if mode() == OFF:
            await self.app({**scope, "principal": principal}, receive, send)
            return
        await _KeptChecked(scope, required).run(self.app, {**scope, "principal": principal}, receive, send)


class _KeptChecked:
    """Re-decides access while the socket is open; on refusal closes it and drops the consumer's later sends."""

    def __init__(self, scope: dict[str, Any], required: str) -> None:
        self.scope = scope
        self.required = required
        self.every = max(float(settings.MODELHUB_KEY_CACHE_SECONDS), MIN_RECHECK_SECONDS)
        self.checked_at = time.monotonic()
        self.closed = False
        self.lock = asyncio.Lock()

    async def _still_allowed(self, send: Any) -> bool:
        async with self.lock:
            if self.closed:
                return False
            if time.monotonic() - self.checked_at < self.every:
                return True
            try:
                decide(self.required, await _principal(self.scope))
            except AccessDenied as denied:
                self.closed = True
                await send(
                    {"type": "websocket.close", "code": _close_code(denied), "reason": denied.message[:120]}
                )
                return False
            self.checked_at = time.monotonic()
            return True

    async def run(self, app: Any, scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def checked_send(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.accept":
                self.checked_at = time.monotonic()
                await send(message)
            elif await self._still_allowed(send):
                await send(message)

        async def watchdog() -> None:
            while not self.closed:
                await asyncio.sleep(self.every)
                await self._still_allowed(send)

        task = asyncio.create_task(watchdog())
        try:
            await app(scope, receive, checked_send)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def guarded_routes(routes: list[URLPattern]) -> list[URLPattern]:
    return [
        URLPattern(route.pattern, GuardedConsumer(route.callback), route.default_args, route.name)
        for route in routes
    ]


def websocket_application(routes: list[URLPattern]) -> Any:
    """Host/Origin check -> session login (AuthMiddlewareStack) -> URLRouter -> the access check of the
    consumer it chose -> the consumer."""
    return HostOriginGuard(AuthMiddlewareStack(URLRouter(guarded_routes(routes))))
