"""Every route on every transport has an access policy, and the policy is enforced route by route.

The routes are derived from their registries (Django's URL resolver, the lean path's `Kind`, the WebSocket
URL patterns), so a route added tomorrow is checked without editing this file. Exemptions carry a reason
and fail when stale.
"""

import asyncio
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from asgiref.testing import ApplicationCommunicator
from django.urls import URLPattern, URLResolver, get_resolver

from access.drf import AccessPolicyPermission
from access.keys import key_create
from access.policy import ADMIN, KEY_SCOPES, SCOPES, needs_key, scope_for_method, scope_of_kind
from access.websockets import websocket_application
from config.websockets import websocket_urlpatterns
from inference.asgi import InferenceRouter
from inference.protocols.routing import SCOPE_OF_KIND, Kind, resolve
from registry.models import Model

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
SECRET_NAME = "Confidential-Model-Name"
MODEL_ID = "m1"

# Route prefix -> why it has no access_policy of ours.
EXEMPT = {
    "admin/": "Django admin: its own staff login (session + CSRF), login throttled by django-axes",
}


def _walk(patterns: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    routes: list[tuple[str, Any]] = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            routes.extend(_walk(entry.url_patterns, prefix + str(entry.pattern)))
        elif isinstance(entry, URLPattern):
            routes.append((prefix + str(entry.pattern), entry.callback))
    return routes


def _exemption(route: str) -> str | None:
    return next((prefix for prefix in EXEMPT if route.startswith(prefix)), None)


def _policy(callback: Any) -> Any:
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view_class is not None:
        return view_class().access_policy if hasattr(view_class, "access_policy") else None
    return getattr(callback, "access_policy", None)


def _methods(callback: Any) -> list[str]:
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view_class is None:
        return ["GET"]
    return [method.upper() for method in HTTP_METHODS if hasattr(view_class, method)]


def _sample_path(route: str) -> str:
    def fill(match: re.Match[str]) -> str:
        return "1" if match[1] == "int" else MODEL_ID

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", fill, route)


ROUTES = _walk(get_resolver().url_patterns)
CHECKED = [
    (route, method, callback)
    for route, callback in ROUTES
    if _exemption(route) is None
    for method in _methods(callback)
]


def test_every_http_route_declares_a_valid_scope_for_every_method_it_implements() -> None:
    missing = []
    for route, method, callback in CHECKED:
        scope = scope_for_method(_policy(callback), method)
        if scope not in SCOPES:
            missing.append(f"{method} /{route} -> {scope!r}")
    assert not missing, "Routes without an access policy:\n" + "\n".join(missing)
    opted_out = [
        route
        for route, _, callback in CHECKED
        if getattr(callback, "cls", None) is not None
        and AccessPolicyPermission not in {type(p) for p in callback.cls().get_permissions()}
    ]
    assert not opted_out, f"DRF views that replaced the global access permission: {opted_out}"
    assert len(CHECKED) > 40  # the walk did find the API


def test_exemptions_are_not_stale() -> None:
    for prefix in EXEMPT:
        assert any(route.startswith(prefix) for route, _ in ROUTES), f"stale exemption {prefix!r}"


def test_every_lean_path_kind_has_a_scope() -> None:
    assert set(SCOPE_OF_KIND) == set(Kind)
    assert all(scope in SCOPES for scope in SCOPE_OF_KIND.values())


def test_every_websocket_route_declares_a_connect_scope() -> None:
    for pattern in websocket_urlpatterns:
        consumer = pattern.callback.consumer_class
        assert scope_for_method(getattr(consumer, "access_policy", None), "CONNECT") in SCOPES, pattern


# --- enforcement, route by route -----------------------------------------------------------------------


def _keys() -> dict[str, str]:
    """A key with exactly one scope, for each scope."""
    return {scope: key_create(name=f"only-{scope}", scopes=[scope]).secret for scope in KEY_SCOPES}


def _lacking(keys: dict[str, str], scope: str) -> str:
    """A key with every scope but `scope` (and admin)."""
    others = [s for s in KEY_SCOPES if s not in (scope, ADMIN)]
    return key_create(name=f"all-but-{scope}", scopes=others).secret


def _assert_refusal(status: int, body: bytes, expected: int, family_key: str, json: bool = True) -> None:
    """The refusal, in the API family's error shape, with nothing of the protected data in it."""
    assert status == expected, body
    assert SECRET_NAME not in body.decode()
    if json:
        payload = orjson.loads(body)
        assert list(payload) == [family_key], payload
        assert MODEL_ID not in payload[family_key]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["writes", "all"])
@pytest.mark.parametrize(("route", "method", "callback"), CHECKED, ids=[f"{m} /{r}" for r, m, _ in CHECKED])
def test_http_route_refuses_without_the_scope(
    auth_mode, mode: str, route: str, method: str, callback: Any
) -> None:
    from rest_framework.test import APIClient

    auth_mode(mode)
    Model.objects.create(id=MODEL_ID, name=SECRET_NAME, version="1")
    scope = scope_for_method(_policy(callback), method)
    assert scope is not None
    path = _sample_path(route)
    family = "error" if path.startswith(("/v1", "/v2", "/metrics")) else "detail"
    client = APIClient()

    def call(key: str | None) -> Any:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
        return getattr(client, method.lower())(path, {}, format="json", **headers)

    if not needs_key(scope, mode):
        assert call(None).status_code not in (401, 403)
        return
    keys = _keys()
    anonymous = call(None)
    is_json = anonymous["Content-Type"].startswith("application/json")
    assert is_json or path.startswith("/api/")  # the schema (YAML) and docs (HTML) render their own way
    _assert_refusal(anonymous.status_code, anonymous.content, 401, family, is_json)
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    lacking = call(_lacking(keys, scope))
    _assert_refusal(lacking.status_code, lacking.content, 403, family, is_json)
    allowed = key_create(name="allowed", scopes=[scope]).secret
    assert call(allowed).status_code not in (401, 403)


KIND_SAMPLES = {
    Kind.TFS_PREDICT: ("POST", "/v1/models/m1:predict"),
    Kind.TFS_STATUS: ("GET", "/v1/models/m1"),
    Kind.TFS_METADATA: ("GET", "/v1/models/m1/metadata"),
    Kind.CONFIG_RELOAD: ("POST", "/v1/config/reload"),
    Kind.CONFIG_STATUS: ("GET", "/v1/config"),
    Kind.KFS_LIVE: ("GET", "/v2/health/live"),
    Kind.KFS_READY: ("GET", "/v2/health/ready"),
    Kind.KFS_SERVER_METADATA: ("GET", "/v2"),
    Kind.KFS_MODEL_METADATA: ("GET", "/v2/models/m1"),
    Kind.KFS_MODEL_READY: ("GET", "/v2/models/m1/ready"),
    Kind.KFS_INFER: ("POST", "/v2/models/m1/infer"),
    Kind.METRICS: ("GET", "/metrics"),
    Kind.KFS_STATISTICS: ("GET", "/v2/models/m1/stats"),
    Kind.KFS_MODEL_CONFIG: ("GET", "/v2/models/m1/config"),
    Kind.REPOSITORY_INDEX: ("POST", "/v2/repository/index"),
    Kind.REPOSITORY_LOAD: ("POST", "/v2/repository/models/m1/load"),
    Kind.REPOSITORY_UNLOAD: ("POST", "/v2/repository/models/m1/unload"),
}


def test_kind_samples_cover_every_kind() -> None:
    assert set(KIND_SAMPLES) == set(Kind)
    for kind, (method, path) in KIND_SAMPLES.items():
        assert resolve(method, path).kind is kind


async def lean_call(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    async def fallback(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the lean path must answer this itself")

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(b"host", b"127.0.0.1:8000"), *headers],
    }
    await InferenceRouter(fallback)(scope, receive, send)
    return sent[0]["status"], sent[1]["body"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["writes", "all"])
@pytest.mark.parametrize("kind", list(Kind), ids=[kind.name for kind in Kind])
def test_lean_path_kind_refuses_without_the_scope(auth_mode, mode: str, kind: Kind) -> None:
    auth_mode(mode)
    method, path = KIND_SAMPLES[kind]
    scope = scope_of_kind(kind)

    def call(key: str | None) -> tuple[int, bytes]:
        headers = [(b"authorization", f"Bearer {key}".encode())] if key else []
        return asyncio.run(lean_call(method, path, headers))

    if not needs_key(scope, mode):
        assert call(None)[0] not in (401, 403)
        return
    keys = _keys()
    _assert_refusal(*call(None), 401, "error")
    _assert_refusal(*call(_lacking(keys, scope)), 403, "error")
    assert call(keys[scope])[0] not in (401, 403)


def test_metrics_scope_is_configurable(settings) -> None:
    settings.MODELHUB_METRICS_SCOPE = "open"
    assert scope_of_kind(Kind.METRICS) == "open"
    settings.MODELHUB_METRICS_SCOPE = "admin"
    assert scope_of_kind(Kind.METRICS) == "admin"


async def ws_connect(path: str, key: str | None, origin: str | None = None) -> tuple[bool, int | None]:
    """(accepted, close code or None when a frame arrived first) of one WebSocket connection."""
    headers = [(b"host", b"127.0.0.1:8000")]
    if key:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    if origin:
        headers.append((b"origin", origin.encode()))
    app = websocket_application(websocket_urlpatterns)
    scope = {"type": "websocket", "path": path, "headers": headers, "query_string": b"", "subprotocols": []}
    communicator = ApplicationCommunicator(app, scope)
    await communicator.send_input({"type": "websocket.connect"})
    first = await communicator.receive_output(timeout=5)
    if first["type"] == "websocket.close":
        return False, first.get("code")
    assert first["type"] == "websocket.accept"
    output = await communicator.receive_output(timeout=5)
    code = output.get("code") if output["type"] == "websocket.close" else None
    await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
    try:
        await communicator.wait(timeout=2)
    except Exception:
        pass
    return True, code


WS_SAMPLES = [_sample_path(str(pattern.pattern)) for pattern in websocket_urlpatterns]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", WS_SAMPLES)
def test_websocket_route_refuses_without_the_scope(auth_mode, path: str) -> None:
    auth_mode("all")
    keys = _keys()
    assert asyncio.run(ws_connect(path, None)) == (True, 4401)
    assert asyncio.run(ws_connect(path, _lacking(keys, "read"))) == (True, 4403)
    assert asyncio.run(ws_connect(path, keys["read"]))[1] not in (4401, 4403)
    auth_mode("writes")
    assert asyncio.run(ws_connect(path, None))[1] not in (4401, 4403)


# --- the documented table (docs/security.md, "Routes and their scopes") says what the code says ----------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"
TABLE_HEADING = "## Routes and their scopes"


def _template(route: str) -> str:
    """A URL pattern or a lean-path sample as the docs write it: `/models/{model_id}`, `/v2/models/{name}`."""
    path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route if route.startswith("/") else "/" + route)
    return re.sub(rf"(?<=/){MODEL_ID}(?=[/:]|$)", "{name}", path)


def coded_routes() -> set[tuple[str, str, str]]:
    """(method, route, scope) of every route of every transport, from the registries the tests above walk;
    /metrics shows its default scope."""
    from inference.grpc import GRPC_METHOD_SCOPES
    from inference.v3.routing import MODEL_PREFIX as V3_MODEL_PREFIX
    from inference.v3.routing import ROUTES as V3_ROUTES
    from inference.v3.routing import SCOPE_OF_KIND as V3_SCOPES
    from inference.v3.routing import V3Kind

    rows = {
        (method, _template(route), str(scope_for_method(_policy(callback), method)))
        for route, method, callback in CHECKED
    }
    rows |= {(method, _template(path), SCOPE_OF_KIND[kind]) for kind, (method, path) in KIND_SAMPLES.items()}
    rows |= {(method, path, V3_SCOPES[kind]) for path, (method, kind) in V3_ROUTES.items()}
    rows.add(("GET", V3_MODEL_PREFIX + "{name}", V3_SCOPES[V3Kind.MODEL]))
    rows |= {
        ("WebSocket", _template(str(pattern.pattern).strip("^$")) if str(pattern.pattern) else "(any other path)",
         str(scope_for_method(
             getattr(pattern.callback.consumer_class, "access_policy", None), "CONNECT")))
        for pattern in websocket_urlpatterns
    }  # fmt: skip
    rows |= {("gRPC", method, scope) for method, scope in GRPC_METHOD_SCOPES.items()}
    return rows


def documented_routes() -> set[tuple[str, str, str]]:
    text = DOCS.read_text()
    assert TABLE_HEADING in text, f"{DOCS} has no section {TABLE_HEADING!r}"
    section = text.split(TABLE_HEADING, 1)[1].split("\n## ", 1)[0]
    rows = set()
    for line in section.splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("Method", "") and not set(cells[0]) <= {"-"}:
            rows.add((cells[0], cells[1], cells[2]))
    return rows


def test_the_documented_scope_of_every_route_is_the_scope_the_code_enforces() -> None:
    """Finding 14: /model/update needed `write` while the docs said `deploy`."""
    coded, documented = coded_routes(), documented_routes()
    assert ("POST", "/model/update", "deploy") in coded
    missing = sorted(coded - documented)
    stale = sorted(documented - coded)
    assert not missing and not stale, (
        f"docs/security.md {TABLE_HEADING!r} differs from the code.\nNot documented (or another scope): "
        + "\n".join(" | ".join(row) for row in missing)
        + "\nDocumented but not so in the code: "
        + "\n".join(" | ".join(row) for row in stale)
    )
