"""Every /v3 route (the OpenAI-compatible API) has a scope, and access is decided before method, path and body."""

import asyncio
from typing import Any

import pytest

from access.policy import needs_key
from inference.v3.asgi import OpenAIRouter
from inference.v3.routing import ROUTES, SCOPE_OF_KIND, V3Kind, resolve
from tests.access.test_every_route_has_a_policy import _assert_refusal, _keys, _lacking

SAMPLES: dict[V3Kind, tuple[str, str]] = {
    V3Kind.CHAT: ("POST", "/v3/chat/completions"),
    V3Kind.COMPLETIONS: ("POST", "/v3/completions"),
    V3Kind.EMBEDDINGS: ("POST", "/v3/embeddings"),
    V3Kind.RERANK: ("POST", "/v3/rerank"),
    V3Kind.MODELS: ("GET", "/v3/models"),
    V3Kind.MODEL: ("GET", "/v3/models/m1"),
}


def test_every_v3_kind_has_a_scope_and_a_sample() -> None:
    assert set(SCOPE_OF_KIND) == set(V3Kind) == set(SAMPLES)
    assert {kind for _, kind in ROUTES.values()} | {V3Kind.MODEL} == set(V3Kind)
    for kind, (method, path) in SAMPLES.items():
        assert resolve(method, path).kind is kind


async def v3_call(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    async def fallback(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the /v3 path must answer this itself")

    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": b'{"model": "m1", "messages": []}', "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # as a server does: nothing more until the client goes away
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(b"host", b"127.0.0.1:8000"), *headers],
    }
    await OpenAIRouter(fallback)(scope, receive, send)
    return sent[0]["status"], sent[1]["body"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["writes", "all"])
@pytest.mark.parametrize("kind", list(V3Kind), ids=[kind.name for kind in V3Kind])
def test_v3_route_refuses_without_the_scope(auth_mode, mode: str, kind: V3Kind) -> None:
    auth_mode(mode)
    method, path = SAMPLES[kind]
    scope = SCOPE_OF_KIND[kind]

    def call(key: str | None, method: str = method, path: str = path) -> tuple[int, bytes]:
        headers = [(b"authorization", f"Bearer {key}".encode())] if key else []
        return asyncio.run(v3_call(method, path, headers))

    if not needs_key(scope, mode):
        assert call(None)[0] not in (401, 403)
        return
    keys = _keys()
    _assert_refusal(*call(None), 401, "error")
    _assert_refusal(*call(_lacking(keys, scope)), 403, "error")
    assert call(keys[scope])[0] not in (401, 403)
    # a wrong method or an unknown path says nothing before the key is checked
    other = "GET" if method == "POST" else "POST"
    assert call(None, other)[0] == 401
    assert call(None, "GET", "/v3/no/such/route")[0] == 401


@pytest.mark.django_db(transaction=True)
def test_v3_unknown_path_and_method_after_access(auth_mode) -> None:
    auth_mode("off")
    assert asyncio.run(v3_call("GET", "/v3/nothing", []))[0] == 404
    assert asyncio.run(v3_call("GET", "/v3/chat/completions", []))[0] == 405
    status, body = asyncio.run(v3_call("POST", "/v3/chat/completions", []))
    assert status == 404 and b"Mediapipe graph definition with requested name is not found" in body
