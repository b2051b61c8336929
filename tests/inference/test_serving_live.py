"""The inference server as clients see it: a real uvicorn process, real models, the clients people use
(tritonclient, ovmsclient) and raw HTTP for every error case; outputs checked against OpenVINO itself."""

import base64
import io
import socket
import time

import numpy as np
import orjson
import pytest
import requests
import tritonclient.http as triton
from ovmsclient import make_http_client
from PIL import Image

from tests.inference.conftest import build_image_model, reference, register, serve
from tests.modelfiles import build_two_io_model, magika_onnx, silero_vad_onnx, zip_files

pytestmark = pytest.mark.live

rng = np.random.default_rng(7)


def host(server) -> str:
    return server.url.removeprefix("http://")


def silero_inputs() -> dict[str, np.ndarray]:
    return {
        "input": rng.standard_normal((1, 576)).astype(np.float32),
        "state": rng.standard_normal((2, 1, 128)).astype(np.float32) * 0.1,
    }


def magika_input() -> np.ndarray:
    return rng.integers(0, 257, (1, 2048)).astype(np.int32)


def assert_healthy(server) -> None:
    assert requests.get(f"{server.url}/v2/health/live", timeout=5).status_code == 200
    data = magika_input()
    response = requests.post(
        f"{server.url}/v1/models/magika:predict", json={"instances": data.tolist()}, timeout=10
    )
    assert response.status_code == 200, response.text


class TestTritonClient:
    def test_health_and_metadata(self, server):
        client = triton.InferenceServerClient(host(server))
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("silero") and client.is_model_ready("silero", "1")
        assert not client.is_model_ready("no-such-model")
        metadata = client.get_model_metadata("silero")
        assert metadata["platform"] == "OpenVINO" and metadata["versions"] == ["1"]
        assert metadata["inputs"] == [
            {"name": "input", "datatype": "FP32", "shape": [1, 576]},
            {"name": "state", "datatype": "FP32", "shape": [2, 1, 128]},
        ]
        assert [o["name"] for o in metadata["outputs"]] == ["output", "stateN"]
        assert client.get_model_metadata("magika")["inputs"] == [
            {"name": "bytes", "datatype": "INT32", "shape": [-1, 2048]}
        ]
        assert client.get_server_metadata()["extensions"] == [
            "binary_data",
            "classification",
            "model_repository",
            "model_configuration",
            "statistics",
        ]

    @pytest.mark.parametrize("binary", [True, False])
    def test_infer_two_inputs_two_outputs(self, server, openvino_core, binary):
        client = triton.InferenceServerClient(host(server))
        data = silero_inputs()
        expected = reference(openvino_core, silero_vad_onnx(), data)
        inputs = []
        for name, array in data.items():
            tensor = triton.InferInput(name, list(array.shape), "FP32")
            tensor.set_data_from_numpy(array, binary_data=binary)
            inputs.append(tensor)
        outputs = [
            triton.InferRequestedOutput("output", binary_data=binary),
            triton.InferRequestedOutput("stateN", binary_data=binary),
        ]
        result = client.infer("silero", inputs, outputs=outputs, request_id="r-7")
        assert result.get_response()["id"] == "r-7" and result.get_response()["model_version"] == "1"
        for name in ("output", "stateN"):
            np.testing.assert_allclose(result.as_numpy(name), expected[name], rtol=1e-5, atol=1e-6)
        # No outputs listed: tritonclient asks for all of them as binary data.
        result = client.infer("silero", inputs, model_version="1")
        np.testing.assert_allclose(result.as_numpy("stateN"), expected["stateN"], rtol=1e-5, atol=1e-6)

    def test_infer_heavy_model_int32_input(self, server, openvino_core):
        client = triton.InferenceServerClient(host(server))
        data = magika_input()
        tensor = triton.InferInput("bytes", [1, 2048], "INT32")
        tensor.set_data_from_numpy(data)
        result = client.infer("magika", [tensor])
        expected = reference(openvino_core, magika_onnx(), {"bytes": data})["target_label"]
        np.testing.assert_allclose(result.as_numpy("target_label"), expected, rtol=1e-5, atol=1e-6)

    def test_bytes_to_a_4d_input_are_decoded_images(self, server, openvino_core):
        picture = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        png = io.BytesIO()
        Image.fromarray(picture).save(png, format="PNG")
        client = triton.InferenceServerClient(host(server))
        tensor = triton.InferInput("image", [1], "BYTES")
        tensor.set_data_from_numpy(np.array([png.getvalue()], dtype=object))
        result = client.infer("image", [tensor])
        bgr = picture[:, :, ::-1].astype(np.float32)[np.newaxis]  # OVMS decodes with OpenCV: BGR
        expected = reference(openvino_core, build_image_model(), {"image": bgr})["mean"]
        np.testing.assert_allclose(result.as_numpy("mean"), expected, rtol=1e-5)


class TestOvmsClient:
    def test_status_metadata_predict(self, server, openvino_core):
        client = make_http_client(host(server))
        assert client.get_model_status("magika") == {
            1: {"state": "AVAILABLE", "error_code": 0, "error_message": "OK"}
        }
        metadata = client.get_model_metadata("magika", 1)
        assert metadata == {
            "inputs": {"bytes": {"dtype": "DT_INT32", "shape": [-1, 2048]}},
            "outputs": {"target_label": {"dtype": "DT_FLOAT", "shape": [-1, 214]}},
            "model_version": 1,
        }
        data = magika_input()
        expected = reference(openvino_core, magika_onnx(), {"bytes": data})["target_label"]
        np.testing.assert_allclose(client.predict({"bytes": data}, "magika"), expected, rtol=1e-5, atol=1e-6)

        data = silero_inputs()
        expected = reference(openvino_core, silero_vad_onnx(), data)
        outputs = client.predict(data, "silero", model_version=1)
        assert set(outputs) == {"output", "stateN"}
        np.testing.assert_allclose(outputs["stateN"], expected["stateN"], rtol=1e-5, atol=1e-6)


class TestTfsRest:
    def test_row_and_column_formats(self, server, openvino_core):
        a = [[1.5, 2.0, -3.0]]
        b = [[2, 3, 4]]
        expected = reference(
            openvino_core, build_two_io_model(), {"a": np.array(a, np.float32), "b": np.array(b, np.int32)}
        )
        url = f"{server.url}/v1/models/two-io/versions/1:predict"
        row = requests.post(url, json={"instances": [{"a": a[0], "b": b[0]}]}, timeout=10).json()
        assert row == {
            "predictions": [{"sum": expected["sum"][0].tolist(), "prod": expected["prod"][0].tolist()}]
        }
        column = requests.post(url, json={"inputs": {"a": a, "b": b, "ignored": [1]}}, timeout=10).json()
        assert column == {"outputs": {"sum": expected["sum"].tolist(), "prod": expected["prod"].tolist()}}
        # One output: shown bare. Numbers are converted to the input's precision (floats to INT32 here).
        data = magika_input()
        single = requests.post(
            f"{server.url}/v1/models/magika:predict", json={"inputs": (data + 0.25).tolist()}, timeout=10
        ).json()
        expected = reference(openvino_core, magika_onnx(), {"bytes": data})["target_label"]
        np.testing.assert_allclose(np.array(single["outputs"]), expected, rtol=1e-5, atol=1e-6)

    def test_b64_image(self, server, openvino_core):
        picture = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        jpeg = io.BytesIO()
        Image.fromarray(picture).save(jpeg, format="JPEG", quality=95)
        body = {"instances": [{"image": {"b64": base64.b64encode(jpeg.getvalue()).decode()}}]}
        response = requests.post(f"{server.url}/v1/models/image:predict", json=body, timeout=10)
        assert response.status_code == 200, response.text
        decoded = np.asarray(Image.open(io.BytesIO(jpeg.getvalue())).resize((8, 8), Image.BILINEAR))
        expected = decoded[:, :, ::-1].astype(np.float32).mean(axis=(0, 1))
        np.testing.assert_allclose(
            response.json()["predictions"][0], expected, atol=3.0
        )  # resize filters differ a little

    def test_status_metadata_config(self, server):
        status = requests.get(f"{server.url}/v1/models/silero/versions/1", timeout=5).json()
        assert status == {
            "model_version_status": [
                {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": "OK"}}
            ]
        }
        config = requests.get(f"{server.url}/v1/config", timeout=5).json()
        assert {"magika", "silero", "two-io", "image"} <= set(config)
        reload = requests.post(f"{server.url}/v1/config/reload", timeout=30)
        assert (
            reload.status_code == 200
            and reload.json() == requests.get(f"{server.url}/v1/config", timeout=5).json()
        )
        metadata = requests.get(f"{server.url}/v1/models/two-io/metadata", timeout=5).json()
        inputs = metadata["metadata"]["signature_def"]["signatureDef"]["serving_default"]["inputs"]
        assert inputs["b"]["dtype"] == "DT_INT32" and inputs["a"]["tensorShape"]["dim"] == [
            {"size": "1", "name": ""},
            {"size": "3", "name": ""},
        ]


SILERO_JSON = {"inputs": [
    {"name": "input", "shape": [1, 576], "datatype": "FP32", "data": [0.0] * 576},
    {"name": "state", "shape": [2, 1, 128], "datatype": "FP32", "data": [0.0] * 256}]}  # fmt: skip


def silero_json(**changes: object) -> dict:
    document = orjson.loads(orjson.dumps(SILERO_JSON))
    for key, value in changes.items():
        index, field = key.split("__")
        document["inputs"][int(index)][field] = value
    return document


ERROR_CASES = [
    # (method, path, kwargs, status, error text)
    ("GET", "/v1/models/nope", {}, 404, "Model with requested name is not found"),
    ("GET", "/v2/models/nope/ready", {}, 404, "Model with requested name is not found"),
    ("POST", "/v2/models/nope/infer", {"json": SILERO_JSON}, 404, "Model with requested name is not found"),
    ("GET", "/v1/models/silero/versions/9", {}, 404, "Model with requested version is not found"),
    ("POST", "/v2/models/silero/versions/9/infer", {"json": SILERO_JSON}, 404, "Model with requested version is not found"),
    ("GET", "/v1/models/silero/versions/-1", {}, 400, "Invalid request URL"),
    ("POST", "/v1/models/silero/versions/-1:predict", {"json": {}}, 400, "Invalid request URL"),
    ("GET", "/v2/models/silero/versions/-1", {}, 400, "Invalid request URL"),
    ("POST", "/v1/models/silero", {}, 406, "Unsupported method"),
    ("GET", "/v2/models/silero/infer", {}, 406, "Unsupported method"),
    ("DELETE", "/v2/models/silero", {}, 406, "Unsupported method"),
    ("POST", "/v1/models/silero:classify", {"json": {}}, 404, "Requested REST resource not found"),
    ("POST", "/v2/models/silero/infer", {"data": b'{"inputs": [1, 2'}, 412, "The file is not valid json - Error: Unexpected end of data. Offset: 16"),
    ("POST", "/v1/models/silero:predict", {"data": b"{,}"}, 412, "The file is not valid json - Error: Unexpected character, expected a string key. Offset: 1"),
    ("POST", "/v1/models/silero:predict", {"json": {"instances": [[1]], "inputs": [[1]]}}, 400, "Invalid JSON structure. Could not detect row or column format"),
    ("POST", "/v1/models/silero:predict", {"json": {"signature_name": ""}}, 400, "Invalid JSON structure. Could not detect row or column format"),
    ("POST", "/v1/models/two-io:predict", {"json": {"inputs": {"a": [[1, 2], [3]], "b": [[1, 2, 3]]}}}, 400, "Could not parse input content. Not valid ndarray detected"),
    ("POST", "/v1/models/two-io:predict", {"json": {"instances": [{"a": [1, "x", 3], "b": [1, 2, 3]}]}}, 400, "Could not parse instance content. Not valid ndarray detected"),
    ("POST", "/v1/models/two-io:predict", {"json": {"inputs": {"a": [[1, 2, 3, 4]], "b": [[1, 2, 3]]}}}, 400, "Invalid input shape - Expected: (1,3); Actual: (1,4); input name: a"),
    ("POST", "/v1/models/two-io:predict", {"json": {"inputs": {"a": [[1, 2, 3]]}}}, 400, "Invalid number of inputs - Expected: 2; Actual: 1"),
    ("POST", "/v2/models/silero/infer", {"json": silero_json(**{"0__shape": [1, 575], "0__data": [0.0] * 575})}, 400, "Invalid input shape - Expected: (1,576); Actual: (1,575); input name: input"),
    ("POST", "/v2/models/silero/infer", {"json": silero_json(**{"1__datatype": "INT32", "1__data": [0] * 256})}, 400, "Invalid input precision - Expected: FP32; Actual: INT32; input name: state"),
    ("POST", "/v2/models/silero/infer", {"json": silero_json(**{"1__name": "other"})}, 400, "Missing input with specific name - Required input: state"),
    ("POST", "/v2/models/silero/infer", {"json": {"inputs": SILERO_JSON["inputs"][:1]}}, 400, "Invalid number of inputs - Expected: 2; Actual: 1"),
    ("POST", "/v2/models/silero/infer", {"json": silero_json(**{"0__data": [0.0] * 575})}, 400, "Invalid number of values in tensor proto container - Expected: 576 values; Actual: 575 values; input name: input"),
    ("POST", "/v2/models/silero/infer", {"json": silero_json(**{"0__data": ["0.5"] * 576})}, 400, "Could not parse input content. Not valid ndarray detected"),
    ("POST", "/v2/models/silero/infer", {"json": silero_json(**{"0__shape": [2, 576], "0__data": [0.0] * 1152})}, 400, "Invalid input batch size - Expected: 1; Actual: 2; input name: input"),
    ("POST", "/v2/models/silero/infer", {"json": {"inputs": []}}, 400, "Invalid JSON structure, missing inputs"),
    ("POST", "/v2/models/silero/infer", {"data": b"{}x", "headers": {"Inference-Header-Content-Length": "abc"}}, 400, "Inference-Header-Content-Length header is invalid and couldn't be parsed"),
    ("POST", "/v2/models/silero/infer", {"data": b"{}", "headers": {"Inference-Header-Content-Length": "3000"}}, 400, "Inference header content length exceeded JSON size"),
    ("POST", "/v2/models/silero/infer", {"data": b"[" * 120 + b"]" * 120}, 412, "The file is not valid json - Error: JSON nested deeper than 100 levels. Offset: 100"),
]  # fmt: skip


@pytest.mark.parametrize(
    "method,path,kwargs,status,text", ERROR_CASES, ids=[f"{c[0]} {c[1]} {c[4][:40]}" for c in ERROR_CASES]
)
def test_bad_requests_get_ovms_status_and_text(server, method, path, kwargs, status, text):
    response = requests.request(method, f"{server.url}{path}", timeout=10, **kwargs)
    assert response.status_code == status, response.text
    assert response.json() == {"error": text}
    assert_healthy(server)


def binary_request(header: dict, payload: bytes) -> dict:
    raw = orjson.dumps(header)
    return {
        "data": raw + payload,
        "headers": {
            "Inference-Header-Content-Length": str(len(raw)),
            "Content-Type": "application/octet-stream",
        },
    }


def test_binary_data_size_that_does_not_match(server):
    header = {"inputs": [
        {"name": "input", "shape": [1, 576], "datatype": "FP32", "parameters": {"binary_data_size": 2300}},
        {"name": "state", "shape": [2, 1, 128], "datatype": "FP32", "parameters": {"binary_data_size": 1024}}]}  # fmt: skip
    response = requests.post(
        f"{server.url}/v2/models/silero/infer", timeout=10, **binary_request(header, b"\0" * 3324)
    )
    assert (response.status_code, response.json()) == (
        400,
        {
            "error": "Invalid content size of tensor proto - Expected: 2304 bytes; Actual: 2300 bytes; input name: input"
        },
    )
    response = requests.post(
        f"{server.url}/v2/models/silero/infer", timeout=10, **binary_request(header, b"\0" * 3000)
    )
    assert (response.status_code, response.json()) == (
        400,
        {"error": "Received buffer size is smaller than binary_data_size parameter indicates"},
    )
    assert_healthy(server)


def test_raw_binary_round_trip(server, openvino_core):
    data = silero_inputs()
    header = {
        "id": "bin",
        "inputs": [
            {
                "name": n,
                "shape": list(a.shape),
                "datatype": "FP32",
                "parameters": {"binary_data_size": a.nbytes},
            }
            for n, a in data.items()
        ],
        "outputs": [{"name": "stateN", "parameters": {"binary_data": True}}, {"name": "output"}],
    }
    payload = b"".join(a.tobytes() for a in data.values())
    response = requests.post(
        f"{server.url}/v2/models/silero/infer", timeout=10, **binary_request(header, payload)
    )
    assert response.status_code == 200
    length = int(response.headers["Inference-Header-Content-Length"])
    document = orjson.loads(response.content[:length])
    expected = reference(openvino_core, silero_vad_onnx(), data)
    state, output = document["outputs"]
    assert state["parameters"] == {"binary_data_size": 1024} and "data" not in state
    np.testing.assert_allclose(
        np.frombuffer(response.content[length:], np.float32).reshape(2, 1, 128),
        expected["stateN"],
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_allclose(output["data"], expected["output"].ravel(), rtol=1e-5, atol=1e-6)


def test_body_over_the_limit_is_refused_before_it_is_read(server):
    """A 500 MB body: 413 answered from the headers, the server never reads the rest."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(
            b"POST /v2/models/silero/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 524288000\r\n\r\n" + b"{" * 1024
        )
        reply = b""
        while chunk := connection.recv(65536):  # the server closes the connection after its answer
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413")
    assert orjson.loads(reply.split(b"\r\n\r\n", 1)[1])["error"].startswith("Request body too large")
    assert_healthy(server)


def test_metrics_count_success_and_failure_per_model(server):
    requests.post(f"{server.url}/v2/models/silero/infer", json=SILERO_JSON, timeout=10).raise_for_status()
    requests.post(
        f"{server.url}/v2/models/silero/infer", json={"inputs": SILERO_JSON["inputs"][:1]}, timeout=10
    )
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    assert "# TYPE ovms_requests_success counter" in text
    success = _sample(
        text,
        'ovms_requests_success{api="KServe",interface="REST",method="ModelInfer",name="silero",version="1"}',
    )
    failed = _sample(
        text,
        'ovms_requests_fail{api="KServe",interface="REST",method="ModelInfer",name="silero",version="1"}',
    )
    assert success >= 1 and failed >= 1
    assert _sample(text, 'ovms_inference_time_us_count{name="silero",version="1"}') >= success
    assert _sample(text, 'ovms_request_time_us_count{interface="REST",name="silero",version="1"}') >= success
    assert (
        'ovms_requests_success{api="TensorFlowServing",interface="REST",method="Predict",name="magika",version="1"}'
        in text
    )


def _sample(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{series} not in /metrics")


def test_failed_load_is_loading_unknown_and_unload_retires(server, tmp_path):
    broken = zip_files({"model.onnx": b"this is not an onnx model"})
    register(server, broken, model_id="broken-wait", name="broken-wait")
    result = server.manage("serve_model", "broken-wait", "--wait", "--timeout", "60", check=False)
    assert result.returncode != 0, result.stdout
    assert "Model broken-wait could not be served as broken-wait version 1: " in result.stderr, result.stderr
    assert "It is no longer served." in result.stderr and "is served as" not in result.stdout
    # Nothing is left behind: the version is retired, and the model can be deleted at once.
    status = requests.get(f"{server.url}/v1/models/broken-wait", timeout=5)
    assert status.status_code == 404 or status.json()["model_version_status"][0]["state"] == "END"
    assert requests.delete(f"{server.url}/models/broken-wait", timeout=5).status_code == 204

    # Served without --wait, the failed version shows as OVMS shows it.
    register(server, broken, model_id="broken", name="broken")
    assert server.manage("serve_model", "broken").returncode == 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = requests.get(f"{server.url}/v1/models/broken", timeout=5).json()
        if status.get("model_version_status", [{}])[0].get("status", {}).get("error_code") == "UNKNOWN":
            break
        time.sleep(0.2)
    assert status == {
        "model_version_status": [
            {
                "version": "1",
                "state": "LOADING",
                "status": {"error_code": "UNKNOWN", "error_message": "UNKNOWN"},
            }
        ]
    }
    response = requests.post(f"{server.url}/v1/models/broken:predict", json={"inputs": [[1]]}, timeout=5)
    assert (response.status_code, response.json()) == (
        404,
        {"error": "Model with requested version is not loaded yet"},
    )

    # A served model cannot be deleted from the registry; once unserved it can.
    register(server, zip_files({"model.onnx": magika_onnx()}), model_id="magika-copy", name="magika-copy")
    serve(server, "magika-copy")
    refused = requests.delete(f"{server.url}/models/magika-copy", timeout=5)
    assert refused.status_code == 409 and "magika-copy" in refused.text
    assert server.manage("unserve_model", "magika-copy", "--wait").returncode == 0
    status = requests.get(f"{server.url}/v1/models/magika-copy", timeout=5).json()
    assert status["model_version_status"][0]["state"] == "END"
    response = requests.post(
        f"{server.url}/v2/models/magika-copy/versions/1/infer", json={"inputs": []}, timeout=5
    )
    # OVMS parses a KServe body first (400 here); modelhub looks the model up first, so that a request for a
    # model it does not serve costs no parsing (issue 20, finding 3).
    assert (response.status_code, response.json()) == (
        404,
        {"error": "Model with requested version is retired"},
    )
    response = requests.get(f"{server.url}/v2/models/magika-copy/versions/1", timeout=5)
    assert (response.status_code, response.json()) == (
        404,
        {"error": "Model with requested version is retired"},
    )
    assert requests.delete(f"{server.url}/models/magika-copy", timeout=5).status_code == 204
    server.manage("unserve_model", "broken")
