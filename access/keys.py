"""Creating, verifying and revoking API keys.

A key reads `mh_<prefix>.<secret>`: the prefix (public, shown in the admin and the audit) finds the row,
the secret is compared with its stored SHA-256 in constant time. Verified keys are cached per process for
settings.MODELHUB_KEY_CACHE_SECONDS (default 10 s): a revoked or expired key stops working within that time.
`last_used_at` is written at most once a minute per process (a conditional update, not on every request).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from access.policy import KEY_SCOPES, AccessDenied, Principal

KEY_PREFIX = "mh_"
LAST_USED_EVERY = timedelta(seconds=60)
_INVALID = "Invalid, expired or revoked API key."
_CACHE_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class NewKey:
    key: object  # the APIKey row
    secret: str  # the full key, shown once


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(text: str | Iterable[str]) -> list[str]:
    items = text.split(",") if isinstance(text, str) else list(text)
    scopes = sorted({item.strip() for item in items if item.strip()})
    unknown = [scope for scope in scopes if scope not in KEY_SCOPES]
    if unknown or not scopes:
        raise ValueError(
            f"Scopes must be a non-empty subset of {', '.join(KEY_SCOPES)}; got {', '.join(unknown) or 'none'}"
        )
    return scopes


def key_create(
    *, name: str, scopes: Iterable[str] | str, expires_at: datetime | None = None, created_by: object = None
) -> NewKey:
    from access.models import APIKey

    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = APIKey.objects.create(
        name=name,
        prefix=prefix,
        secret_hash=hash_secret(secret),
        scopes=parse_scopes(scopes),
        expires_at=expires_at,
        created_by=created_by,
    )
    return NewKey(key=row, secret=f"{KEY_PREFIX}{prefix}.{secret}")


def key_revoke(*, key_id: int) -> bool:
    from access.models import APIKey

    changed = APIKey.objects.filter(pk=key_id, revoked=False).update(revoked=True, revoked_at=timezone.now())
    clear_cache()
    return changed == 1


# token -> (principal, valid until monotonic time). Only keys that verified are cached (a flood of bad keys
# cannot grow it past the limit, and each bad key costs one indexed lookup).
_cache: dict[str, tuple[Principal, float]] = {}
_cache_lock = threading.Lock()


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def cached_principal(token: str) -> Principal | None:
    entry = _cache.get(token)
    if entry is not None and entry[1] > time.monotonic():
        return entry[0]
    return None


def verify_key(token: str) -> Principal:
    principal = cached_principal(token)
    if principal is not None:
        return principal
    principal = _verify_in_database(token)
    ttl = settings.MODELHUB_KEY_CACHE_SECONDS
    if ttl > 0:
        with _cache_lock:
            if len(_cache) >= _CACHE_LIMIT:
                _cache.clear()
            _cache[token] = (principal, time.monotonic() + ttl)
    return principal


async def averify_key(token: str) -> Principal:
    principal = cached_principal(token)
    if principal is not None:
        return principal
    return await sync_to_async(verify_key, thread_sensitive=True)(token)


def _verify_in_database(token: str) -> Principal:
    from access.models import APIKey

    if not token.startswith(KEY_PREFIX) or "." not in token:
        raise AccessDenied(401, _INVALID)
    prefix, _, secret = token[len(KEY_PREFIX) :].partition(".")
    row = APIKey.objects.filter(prefix=prefix).first()
    # Compare even when the prefix is unknown, so timing does not tell which prefixes exist.
    expected = row.secret_hash if row is not None else "0" * 64
    if not hmac.compare_digest(expected, hash_secret(secret)) or row is None:
        raise AccessDenied(401, _INVALID)
    if not row.is_active:
        raise AccessDenied(401, _INVALID)
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        APIKey.objects.filter(pk=row.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_EVERY)
        ).update(last_used_at=now)
    return Principal(name=row.name, kind="key", scopes=frozenset(row.scopes), key_id=row.pk)


def principal_for_user(user: object) -> Principal | None:
    """A logged-in Django user: superusers have every scope; others the `access.scope_*` permissions they
    hold directly or through groups; staff users can at least read."""
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return None
    if user.is_superuser:  # type: ignore[attr-defined]
        scopes = frozenset({"admin"})
    else:
        scopes = frozenset(
            scope
            for scope in KEY_SCOPES
            if user.has_perm(f"access.scope_{scope}")  # type: ignore[attr-defined]
        )
        if user.is_staff:  # type: ignore[attr-defined]
            scopes |= {"read"}
    return Principal(name=user.get_username(), kind="user", scopes=scopes)  # type: ignore[attr-defined]
