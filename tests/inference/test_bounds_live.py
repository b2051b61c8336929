"""Resource bounds of the inference REST path against a live server (issue 20 findings 3 and 7, issue 24 point
4): nothing is read, decompressed, parsed or decoded before the access decision and the model lookup, and what
is parsed or decoded after them is bounded. Memory is the server's peak RSS growth (tests/inference/memory.py)."""

import gzip
import io
import struct
from collections.abc import Iterator

import orjson
import pytest
import requests
from PIL import Image

from tests.inference.conftest import build_image_model, serve
from tests.inference.memory import MIB, peak_growth
from tests.live import LiveService, live_service
from tests.modelfiles import build_simple_model, ir_zip

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """MODELHUB_AUTH=all, `simple` (static [1,16] inputs) and `image` (an 8x8 image input) served."""
    folder = tmp_path_factory.mktemp("bounds-live")
    with live_service(folder / "data", with_worker=False, env={"MODELHUB_AUTH": "all"}) as service:
        admin = service.manage("create_api_key", "admin", "--scopes", "admin").stdout.strip().splitlines()[-1]
        service.admin = admin  # type: ignore[attr-defined]
        for model_id, model in (("simple", build_simple_model()), ("image", build_image_model())):
            response = requests.post(
                f"{service.url}/models",
                files={"file": (f"{model_id}.zip", ir_zip(model, folder), "application/zip")},
                data={"id": model_id, "name": model_id, "version": "1"},
                headers={"Authorization": f"Bearer {admin}"},
                timeout=30,
            )
            assert response.status_code == 201, response.text
        serve(service, "simple", "image")
        yield service


def auth(server: LiveService) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.admin}"}  # type: ignore[attr-defined]


def empty_lists_document(megabytes: int) -> bytes:
    """A KServe request for `simple` whose data is `megabytes` MiB of `[],`: ~3 bytes per Python list."""
    lists = b"[]," * (megabytes * MIB // 3) + b"[]"
    return (
        b'{"inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"INT32","data":['
        + lists
        + b']},{"name":"INPUT1","shape":[1,16],"datatype":"INT32","data":[]}]}'
    )


def warm_up(server: LiveService) -> None:
    body = {
        "inputs": [
            {"name": n, "shape": [1, 16], "datatype": "INT32", "data": [1] * 16} for n in ("INPUT0", "INPUT1")
        ]
    }
    response = requests.post(
        f"{server.url}/v2/models/simple/infer", json=body, headers=auth(server), timeout=10
    )
    assert response.status_code == 200, response.text


def test_routes_cannot_be_probed_without_a_key(server: LiveService) -> None:
    probes = [
        ("GET", "/v2/repository/index", 406),  # the review's probe: a POST-only route
        ("GET", "/v2/models/simple/infer", 406),
        ("POST", "/v2/health/live", 406),  # an open route, with the wrong method
        ("GET", "/v1/no/such/route", 400),
        ("GET", "/v2/no/such/route", 400),
    ]
    for method, path, status in probes:
        anonymous = requests.request(method, server.url + path, timeout=5)
        assert (anonymous.status_code, anonymous.headers.get("WWW-Authenticate")) == (
            401,
            'Bearer realm="modelhub"',
        ), path
        wrong_key = requests.request(
            method, server.url + path, headers={"Authorization": "Bearer nope"}, timeout=5
        )
        assert wrong_key.status_code == 401, path
        keyed = requests.request(method, server.url + path, headers=auth(server), timeout=5)
        assert keyed.status_code == status, (path, keyed.text)
    assert requests.get(f"{server.url}/v2/health/live", timeout=5).status_code == 200  # still open


def test_a_refused_body_is_dropped_not_kept(server: LiveService) -> None:
    warm_up(server)
    body = bytes(128 * MIB)
    with peak_growth(server.processes["server"].pid) as growth:
        response = requests.post(f"{server.url}/v2/models/simple/infer", data=body, timeout=60)
    # Before: the refused body was read whole (128 MiB) before it was dropped.
    assert growth.mib < 32, f"peak RSS rose by {growth.mib:.0f} MiB for a refused 128 MiB body"
    assert response.status_code == 401


def test_a_compressed_bomb_for_an_unknown_model_is_not_opened(server: LiveService) -> None:
    warm_up(server)
    bomb = gzip.compress(empty_lists_document(16), compresslevel=9)  # ~16 KiB on the wire
    headers = {**auth(server), "Content-Encoding": "gzip", "Content-Type": "application/json"}
    with peak_growth(server.processes["server"].pid) as growth:
        response = requests.post(f"{server.url}/v2/models/nope/infer", data=bomb, headers=headers, timeout=60)
    # Before: inflated and parsed into ~5.6 million lists (~600 MiB) before the model was looked up.
    assert growth.mib < 32, f"peak RSS rose by {growth.mib:.0f} MiB"
    assert (response.status_code, response.json()) == (
        404,
        {"error": "Model with requested name is not found"},
    )


def test_a_compressed_bomb_for_a_served_model_stops_at_the_ratio(server: LiveService) -> None:
    warm_up(server)
    bomb = gzip.compress(empty_lists_document(16), compresslevel=9)
    headers = {**auth(server), "Content-Encoding": "gzip", "Content-Type": "application/json"}
    with peak_growth(server.processes["server"].pid) as growth:
        response = requests.post(
            f"{server.url}/v2/models/simple/infer", data=bomb, headers=headers, timeout=60
        )
    assert growth.mib < 32, f"peak RSS rose by {growth.mib:.0f} MiB"
    assert response.status_code == 413
    assert "inflates more than 100 times" in response.json()["error"]


def test_json_with_more_values_than_the_model_takes_is_refused_unparsed(server: LiveService) -> None:
    warm_up(server)
    document = empty_lists_document(12)  # 12 MiB: 4 million empty lists for a model that takes 32 numbers
    headers = {**auth(server), "Content-Type": "application/json"}
    with peak_growth(server.processes["server"].pid) as growth:
        response = requests.post(
            f"{server.url}/v2/models/simple/infer", data=document, headers=headers, timeout=60
        )
    # Before: parsed into Python lists (~400 MiB) and only then found wrong. Now: the body itself, once.
    assert growth.mib < 12 + 24, f"peak RSS rose by {growth.mib:.0f} MiB for a 12 MiB body"
    assert response.status_code == 413
    assert response.json()["error"].startswith("Too many values in the JSON request - more than 4192 values")
    compact = {
        "inputs": [
            {"name": n, "shape": [1, 16], "datatype": "INT32", "data": [[1] * 16]}
            for n in ("INPUT0", "INPUT1")
        ]
    }
    response = requests.post(
        f"{server.url}/v1/models/simple:predict", data=document, headers=headers, timeout=60
    )
    assert response.status_code == 413  # TF Serving's JSON too
    ok = requests.post(f"{server.url}/v2/models/simple/infer", json=compact, headers=auth(server), timeout=10)
    assert ok.status_code == 200, ok.text


def png(width: int, height: int, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def image_request(blob: bytes) -> tuple[bytes, dict[str, str]]:
    """A KServe binary request: one BYTES element (4-byte length, then the PNG) for the image model."""
    raw = struct.pack("<I", len(blob)) + blob
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "image",
                    "shape": [1],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        }
    )
    return header + raw, {
        "Inference-Header-Content-Length": str(len(header)),
        "Content-Type": "application/octet-stream",
    }


def test_an_image_bomb_is_refused_from_its_header(server: LiveService) -> None:
    warm_up(server)
    bomb = png(12000, 12000)  # ~140 KiB, 144 million pixels
    body, headers = image_request(bomb)
    with peak_growth(server.processes["server"].pid) as growth:
        response = requests.post(
            f"{server.url}/v2/models/image/infer", data=body, headers={**auth(server), **headers}, timeout=60
        )
    # Before: decoded whole (144 MiB for one channel) on the event loop, then found to have the wrong channels.
    assert growth.mib < 24, f"peak RSS rose by {growth.mib:.0f} MiB"
    assert response.status_code == 400
    assert response.json()["error"].startswith(
        "Image parsing failed - image of 12000x12000 pixels, more than the 4096"
    )
    body, headers = image_request(png(16, 16, "RGB"))  # within 64x the model's 8x8: resized and served
    response = requests.post(
        f"{server.url}/v2/models/image/infer", data=body, headers={**auth(server), **headers}, timeout=10
    )
    assert response.status_code == 200, response.text


def test_an_accepted_body_is_held_once(server: LiveService) -> None:
    warm_up(server)
    header = orjson.dumps(
        {"inputs": [{"name": n, "shape": [1, 16], "datatype": "INT32"} for n in ("INPUT0", "INPUT1")]}
    )
    body = header + bytes(128 * MIB)
    headers = {**auth(server), "Inference-Header-Content-Length": str(len(header))}
    with peak_growth(server.processes["server"].pid) as growth:
        response = requests.post(
            f"{server.url}/v2/models/simple/infer", data=body, headers=headers, timeout=60
        )
    # Before: the pieces and their join, twice the body (256+ MiB).
    assert growth.mib < 128 + 40, f"peak RSS rose by {growth.mib:.0f} MiB for a 128 MiB body"
    assert response.status_code == 200  # bytes past the inputs are ignored, as before
