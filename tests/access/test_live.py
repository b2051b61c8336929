"""A real server (uvicorn + the lean path) under MODELHUB_AUTH=all: tritonclient infers with the key in its
headers, anonymous and scope-lacking calls are refused on HTTP and WebSocket, revocation takes effect."""

import asyncio
import time

import numpy as np
import pytest
import requests
import tritonclient.http as triton
import websockets
from tritonclient.utils import InferenceServerException

from tests.live import live_service
from tests.modelfiles import build_constant_model, ir_zip

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def server(tmp_path_factory):  # type: ignore[no-untyped-def]
    env = {"MODELHUB_AUTH": "all", "MODELHUB_KEY_CACHE_SECONDS": "1"}
    with live_service(tmp_path_factory.mktemp("auth-live"), with_worker=False, env=env) as service:
        yield service


def new_key(server, name: str, scopes: str) -> str:  # type: ignore[no-untyped-def]
    return server.manage("create_api_key", name, "--scopes", scopes).stdout.strip()


def test_tritonclient_infers_with_the_key_in_its_headers(server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    writer = new_key(server, "writer", "write,read")
    archive = ir_zip(build_constant_model(3.0), tmp_path)
    anonymous = requests.post(
        f"{server.url}/models", files={"file": ("m.zip", archive)}, data={"name": "c", "version": "1"}
    )
    assert anonymous.status_code == 401 and list(anonymous.json()) == ["detail"]
    response = requests.post(
        f"{server.url}/models",
        files={"file": ("m.zip", archive)},
        data={"id": "const", "name": "const", "version": "1"},
        headers={"Authorization": f"Bearer {writer}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    assert (
        server.manage("serve_model", "const", "--name", "const", "--wait", "--timeout", "120").returncode == 0
    )

    key = new_key(server, "inferer", "infer")
    client = triton.InferenceServerClient(f"127.0.0.1:{server.port}")
    tensor = triton.InferInput("input", [1, 4], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 4), np.float32))
    result = client.infer("const", [tensor], headers={"Authorization": f"Bearer {key}"})
    np.testing.assert_allclose(
        result.as_numpy(next(iter(o["name"] for o in result.get_response()["outputs"]))), 3.0
    )
    with pytest.raises(InferenceServerException, match="Authentication required"):
        client.infer("const", [tensor])
    with pytest.raises(InferenceServerException, match="does not have the 'infer' scope"):
        client.infer("const", [tensor], headers={"Authorization": f"Bearer {writer}"})
    assert requests.get(f"{server.url}/v2/health/live").status_code == 200  # liveness stays open

    # Revoked: refused on every path within MODELHUB_KEY_CACHE_SECONDS (1 s here).
    assert "Revoked" in server.manage("revoke_api_key", "inferer").stdout
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        status = requests.get(
            f"{server.url}/v2/models/const", headers={"Authorization": f"Bearer {key}"}
        ).status_code
        if status == 401:
            break
        time.sleep(0.2)
    assert status == 401


def test_websocket_needs_the_key_and_a_same_origin(server) -> None:  # type: ignore[no-untyped-def]
    reader = new_key(server, "ws-reader", "read")
    url = f"ws://127.0.0.1:{server.port}/deploy/nope/events"

    async def close_code(headers: dict[str, str], origin: str | None = None) -> int | None:
        kwargs = {"additional_headers": headers, "open_timeout": 10}
        if origin:
            kwargs["origin"] = origin
        try:
            async with websockets.connect(url, **kwargs) as socket:
                try:
                    await asyncio.wait_for(socket.recv(), 10)
                except websockets.ConnectionClosed as closed:
                    return closed.rcvd.code if closed.rcvd else None
        except websockets.InvalidStatus as refused:
            return refused.response.status_code
        return None

    assert asyncio.run(close_code({})) == 4401
    assert asyncio.run(close_code({"Authorization": f"Bearer {reader}"})) == 4404  # past access: unknown task
    assert asyncio.run(close_code({"Authorization": f"Bearer {reader}"}, origin="http://evil.example")) == 403


def test_foreign_host_is_refused_on_both_paths(server) -> None:  # type: ignore[no-untyped-def]
    for path in ("/v2/health/live", "/health"):
        assert requests.get(f"{server.url}{path}", headers={"Host": "rebind.evil.example"}).status_code == 400


def test_under_writes_ovmsclient_infers_anonymously_and_writes_need_a_key(tmp_path_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ovmsclient import make_http_client

    env = {"MODELHUB_AUTH": "writes"}
    with live_service(tmp_path_factory.mktemp("writes-live"), with_worker=False, env=env) as server:
        archive = ir_zip(build_constant_model(5.0), tmp_path)
        form = {"id": "five", "name": "five", "version": "1"}
        anonymous = requests.post(
            f"{server.url}/models", files={"file": ("m.zip", archive)}, data=form, timeout=30
        )
        assert anonymous.status_code == 401
        writer = new_key(server, "writer", "write")
        created = requests.post(
            f"{server.url}/models",
            files={"file": ("m.zip", archive)},
            data=form,
            headers={"Authorization": f"Bearer {writer}"},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        assert requests.get(f"{server.url}/models/five", timeout=10).status_code == 200  # reads stay open
        assert (
            server.manage("serve_model", "five", "--name", "five", "--wait", "--timeout", "120").returncode
            == 0
        )
        client = make_http_client(f"127.0.0.1:{server.port}")  # ovmsclient cannot send headers
        np.testing.assert_allclose(client.predict({"input": np.zeros((1, 4), np.float32)}, "five"), 5.0)
        assert requests.post(f"{server.url}/v1/config/reload", timeout=30).status_code == 401
