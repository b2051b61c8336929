"""The access decision for ASGI middleware that must refuse before reading a body (docs/security.md).

Decided from the request line and headers only: the Host and cross-site rules (access/browser.py), then the
principal from a Bearer key or, failing that, from the Django session cookie (the admin's login), against the
scope the route needs. The view decides again later (DRF's permission), so this gate only refuses early; it
never lets through what the view would refuse.
"""

from importlib import import_module
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

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
