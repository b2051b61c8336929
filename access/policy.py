"""The one access decision of modelhub, used by every transport (DRF, plain Django views, the lean ASGI
inference path, WebSockets, gRPC).

A route declares the scope it needs ("open", "read", "write", "deploy", "infer", "admin"); the mode
(settings.MODELHUB_AUTH: "off", "writes" or "all") says which scopes need a key; `decide` turns
(scope, principal) into the principal or an `AccessDenied` (401 without credentials, 403 with the wrong ones).
Keys are verified by `principal_from_authorization` (cached in-process, see access/keys.py).

This module stays import-light (no models at import time) so that the inference hot path and gRPC can use it.
"""

from __future__ import annotations

import contextvars
import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

OPEN, READ, WRITE, DEPLOY, INFER, ADMIN = "open", "read", "write", "deploy", "infer", "admin"
SCOPES: tuple[str, ...] = (OPEN, READ, WRITE, DEPLOY, INFER, ADMIN)
KEY_SCOPES: tuple[str, ...] = (READ, WRITE, DEPLOY, INFER, ADMIN)  # what a key can carry ("open" needs none)

OFF, WRITES, ALL = "off", "writes", "all"
MODES: tuple[str, ...] = (OFF, WRITES, ALL)
ANONYMOUS_UNDER_WRITES = frozenset({OPEN, READ, INFER})

# HTTP method -> scope, as views declare it; HEAD and OPTIONS follow GET.
AccessPolicy = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an API key (kind "key"), a Django user (kind "user"), or nobody (kind "anonymous")."""

    name: str
    kind: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    key_id: int | None = None

    def has(self, scope: str) -> bool:
        return scope == OPEN or ADMIN in self.scopes or scope in self.scopes

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"


ANONYMOUS = Principal(name="anonymous", kind="anonymous")
SYSTEM = Principal(name="system", kind="system", scopes=frozenset({ADMIN}))  # management commands, workers

# The caller of the current request (set by the auth layer, read by access.audit when services record events).
current_principal: contextvars.ContextVar[Principal] = contextvars.ContextVar("principal", default=SYSTEM)
current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


class AccessDenied(Exception):
    """401 (no or bad credentials) or 403 (credentials without the scope). The message names no secret."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def grpc_code(self) -> str:
        """The grpc.StatusCode name, for the gRPC server to abort with (no grpc import here)."""
        return "UNAUTHENTICATED" if self.status == 401 else "PERMISSION_DENIED"


def mode() -> str:
    return settings.MODELHUB_AUTH  # type: ignore[no-any-return]


def needs_key(scope: str, auth_mode: str | None = None) -> bool:
    """Whether `scope` can be used anonymously under the mode; the fast paths skip all auth work when not."""
    auth_mode = auth_mode or mode()
    if auth_mode == OFF or scope == OPEN:
        return False
    if auth_mode == WRITES:
        return scope not in ANONYMOUS_UNDER_WRITES
    return True


def decide(scope: str, principal: Principal | None) -> Principal:
    """The decision: the principal the request runs as, or AccessDenied."""
    if scope not in SCOPES:
        raise AccessDenied(403, "This route has no valid access policy.")  # fail closed on a typo
    principal = principal or ANONYMOUS
    if not needs_key(scope):
        return principal
    if principal.is_anonymous:
        raise AccessDenied(
            401,
            f"Authentication required: send 'Authorization: Bearer <key>' with a key that has the {scope!r} scope.",
        )
    if not principal.has(scope):
        raise AccessDenied(403, f"The {principal.kind} {principal.name!r} does not have the {scope!r} scope.")
    return principal


def scope_for_method(policy: AccessPolicy | None, method: str) -> str | None:
    if not policy:
        return None
    method = method.upper()
    if method in ("HEAD", "OPTIONS"):
        return policy.get(method) or policy.get("GET")
    return policy.get(method)


def bearer_token(authorization: str | bytes | None) -> str | None:
    """The key of an `Authorization: Bearer <key>` value; None when absent. Other schemes are refused (401)."""
    if not authorization:
        return None
    if isinstance(authorization, bytes):
        authorization = authorization.decode("latin-1")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AccessDenied(401, "The Authorization header must be 'Bearer <key>'.")
    return token


def principal_from_authorization(authorization: str | bytes | None) -> Principal | None:
    """The key's principal (cached verification), None without a header; AccessDenied(401) for a bad key."""
    token = bearer_token(authorization)
    if token is None:
        return None
    from access.keys import verify_key  # models are loaded lazily: this module is imported by the hot path

    return verify_key(token)


async def aprincipal_from_authorization(authorization: str | bytes | None) -> Principal | None:
    token = bearer_token(authorization)
    if token is None:
        return None
    from access.keys import averify_key

    return await averify_key(token)


def authorize(scope: str, authorization: str | bytes | None) -> Principal:
    """Decision for a request that carries only an Authorization header (lean path, WebSockets, gRPC).

    Under "off" the header is not even looked at (no per-request work); otherwise a presented key is always
    verified, so a wrong key is a 401 even on a route that anonymous callers may use.
    """
    if mode() == OFF:
        return ANONYMOUS
    return decide(scope, principal_from_authorization(authorization))


async def aauthorize(scope: str, authorization: str | bytes | None) -> Principal:
    if mode() == OFF:
        return ANONYMOUS
    return decide(scope, await aprincipal_from_authorization(authorization))


def metrics_scope() -> str:
    return settings.MODELHUB_METRICS_SCOPE  # type: ignore[no-any-return]


def scope_of_kind(kind: Any) -> str:
    """The scope of a lean-path route kind (inference.protocols.routing.SCOPE_OF_KIND; /metrics configurable)."""
    from inference.protocols.routing import SCOPE_OF_KIND, Kind

    if kind is Kind.METRICS:
        return metrics_scope()
    return SCOPE_OF_KIND[kind]


def grpc_method_scopes() -> Mapping[str, str]:
    """GRPC_METHOD_SCOPES of the gRPC module (settings.MODELHUB_GRPC_SCOPES_MODULE); empty when it is absent."""
    try:
        module = importlib.import_module(settings.MODELHUB_GRPC_SCOPES_MODULE)
    except ModuleNotFoundError:
        return {}
    return getattr(module, "GRPC_METHOD_SCOPES", {})


def _metadata_value(metadata: Iterable[Any] | None, name: str) -> str | None:
    for item in metadata or ():
        key, value = (item.key, item.value) if hasattr(item, "key") else item
        if key.lower() == name:
            return value.decode("latin-1") if isinstance(value, bytes) else value
    return None


def authorize_grpc(
    method_full_name: str, metadata: Iterable[Any] | None, *, scopes: Mapping[str, str] | None = None
) -> Principal:
    """The decision for one gRPC call: `method_full_name` as grpc gives it ("/inference.GRPCInferenceService/
    ModelInfer"), `metadata` the call's invocation metadata ((key, value) pairs; the key travels in
    `authorization: Bearer <key>`). A method missing from GRPC_METHOD_SCOPES is refused (fail closed).
    Raises AccessDenied (use `.grpc_code` and `.message` to abort); sets the principal for audit events.
    """
    scope = _grpc_scope(method_full_name, scopes)
    if mode() == OFF:
        return ANONYMOUS
    principal = decide(scope, principal_from_authorization(_metadata_value(metadata, "authorization")))
    current_principal.set(principal)
    return principal


async def aauthorize_grpc(
    method_full_name: str, metadata: Iterable[Any] | None, *, scopes: Mapping[str, str] | None = None
) -> Principal:
    """`authorize_grpc` for grpc.aio servers: a cached key costs no thread hop, a new one one DB lookup."""
    scope = _grpc_scope(method_full_name, scopes)
    if mode() == OFF:
        return ANONYMOUS
    authorization = _metadata_value(metadata, "authorization")
    if authorization is None and not needs_key(scope):
        return ANONYMOUS
    principal = decide(scope, await aprincipal_from_authorization(authorization))
    current_principal.set(principal)
    return principal


def _grpc_scope(method_full_name: str, scopes: Mapping[str, str] | None) -> str:
    table = grpc_method_scopes() if scopes is None else scopes
    scope = table.get(method_full_name)
    if scope is None:
        raise AccessDenied(403, f"No access policy for the gRPC method {method_full_name}.")
    return scope
