"""Refusing what a web page in the operator's browser could make it send (even with MODELHUB_AUTH=off):
a foreign Host (DNS rebinding), a state-changing request from another site (CSRF with "simple" requests),
a WebSocket opened from another origin. Clients that are not browsers send no Origin and are unaffected.

Pure functions over header values, shared by the Django middleware, the lean ASGI path and Channels.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
HOST_REFUSED = "Invalid Host header: not one of DJANGO_ALLOWED_HOSTS."
CROSS_SITE_REFUSED = "Cross-site request refused: a page of another site cannot change state here."

_host_verdicts: dict[str, bool] = {}


def host_allowed(host: str | None) -> bool:
    """Django's own ALLOWED_HOSTS rule (ports ignored), memoized: the lean path asks it on every request."""
    if host is None:
        return False
    verdict = _host_verdicts.get(host)
    if verdict is None:
        domain, _ = split_domain_port(host)
        verdict = bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)
        if len(_host_verdicts) > 1000:
            _host_verdicts.clear()
        _host_verdicts[host] = verdict
    return verdict


def clear_host_verdicts() -> None:
    _host_verdicts.clear()


def origin_allowed(origin: str, host: str | None) -> bool:
    """Same origin as the Host the request was sent to, or listed in DJANGO_CSRF_TRUSTED_ORIGINS."""
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc or host is None:
        return False  # includes Origin: null (sandboxed frames, file:// pages)
    return parts.netloc.lower() == host.lower()


def cross_site_refusal(
    method: str, host: str | None, origin: str | None, fetch_site: str | None
) -> str | None:
    """The refusal message for a state-changing request sent by another site's page, else None."""
    if method in SAFE_METHODS:
        return None
    if origin is not None and origin in settings.CSRF_TRUSTED_ORIGINS:
        return None
    if fetch_site == "cross-site":
        return CROSS_SITE_REFUSED
    if origin is not None and not origin_allowed(origin, host):
        return CROSS_SITE_REFUSED
    return None


def websocket_refusal(host: str | None, origin: str | None) -> str | None:
    if not host_allowed(host):
        return HOST_REFUSED
    if origin is not None and not origin_allowed(origin, host):
        return "WebSocket from a foreign Origin refused."
    return None
