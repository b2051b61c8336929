"""The access decision for ASGI middleware that must refuse before reading a body (docs/security.md).

Decided from the request line and headers only: the Host and cross-site rules (access/browser.py), then the
principal from a Bearer key or, failing that, from the Django session cookie (the admin's login), against the
scope the route needs. The view decides again later (DRF's permission), so this gate only refuses early; it
never lets through what the view would refuse.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from importlib import import_module
from typing import Any

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.urls import Resolver404, resolve

from access import policy
from access.browser import CROSS_SITE_REFUSED, HOST_REFUSED, cross_site_refusal, host_allowed
from access.keys import principal_for_user


async def refusal_before_body(scope: dict[str, Any], required: str) -> tuple[int, str] | None:
    """(status, message) when the request cannot be allowed, whatever its body; None to go on."""
    headers: dict[bytes, bytes] = {}
    for key, value in scope.get("headers", ()):
        headers.setdefault(key, value)
    host = _text(headers.get(b"host"))
    if host is not None and not host_allowed(host):
        return 400, HOST_REFUSED
    method = scope.get("method", "GET")
    if cross_site_refusal(method, host, _text(headers.get(b"origin")), _text(headers.get(b"sec-fetch-site"))):
        return 403, CROSS_SITE_REFUSED
    if policy.mode() == policy.OFF:
        return None
    authorization = headers.get(b"authorization")
    if not authorization and not policy.needs_key(required):
        return None  # anonymous callers may: no session to look up
    try:
        principal = await policy.aprincipal_from_authorization(authorization) if authorization else None
        if principal is None and not authorization:
            principal = await _session_principal(headers.get(b"cookie"))
        policy.decide(required, principal)
    except policy.AccessDenied as denied:
        return denied.status, denied.message
    return None


async def _session_principal(cookie_header: bytes | None) -> policy.Principal | None:
    if not cookie_header:
        return None
    name = settings.SESSION_COOKIE_NAME.encode()
    for part in cookie_header.split(b";"):
        key, _, value = part.strip().partition(b"=")
        if key == name and value:
            return await sync_to_async(_user_principal)(value.decode("latin-1"))
    return None


def _user_principal(session_key: str) -> policy.Principal | None:
    from django.contrib.auth import get_user
    from django.http import HttpRequest

    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return principal_for_user(get_user(request))  # type: ignore[arg-type]


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None


SCOPE_KEY = (
    "modelhub.access_decided"  # set once the gate let a request through, so inner layers need not ask again
)
ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


class AccessBeforeBody:
    """ASGI middleware in front of Django: a request that carries a body is refused from its request line and
    headers (Host, cross-site, the route's access policy) before Django reads the body (up to
    MODELHUB_MAX_FORM_BYTES, spooled to disk past 2 MiB) or a parser looks at it. Requests without a body, the
    admin (its own login) and paths that resolve to no view go straight to Django, which decides as before.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and _has_body(scope):
            required = _required_scope(scope["path"], scope["method"])
            if required is not None:
                refusal = await refusal_before_body(dict(scope), required)
                if refusal is not None:
                    await respond_refusal(send, *refusal)
                    return
                scope[SCOPE_KEY] = required
        await self.app(scope, receive, send)


def _has_body(scope: MutableMapping[str, Any]) -> bool:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            return value.strip() not in (b"0", b"")
        if key == b"transfer-encoding":
            return True
    return False


def _required_scope(path: str, method: str) -> str | None:
    """The scope the route's view declares for the method; None where Django should decide (admin, no view,
    no policy for the method: their answers need no body)."""
    from access.middleware import view_policy

    try:
        match = resolve(path)
    except Resolver404:
        return None
    if "admin" in match.namespaces:
        return None
    return policy.scope_for_method(view_policy(match.func), method)


async def respond_refusal(send: Any, status: int, message: str) -> None:
    body = orjson.dumps({"detail": message})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the body that was not read is not read at all
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="modelhub"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
