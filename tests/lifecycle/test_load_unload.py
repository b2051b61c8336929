"""Load and unload through the lifecycle API on a real service (two server processes + worker), checked with
tritonclient: a loaded model answers on every process with OpenVINO's own result; an unloaded one is a 404."""

import time
from collections.abc import Iterator

import numpy as np
import openvino as ov
import pytest
import requests
import tritonclient.http as triton

from tests.lifecycle.test_live import download, snapshot, upload, wait_for
from tests.live import LiveService, live_service
from tests.modelfiles import magika_onnx, onnx_zip

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    with live_service(tmp_path_factory.mktemp("lifecycle-load"), workers=2) as service:
        yield service


def test_load_before_download_is_409_then_load_infer_unload(live: LiveService) -> None:
    model_id = upload(live, onnx_zip(magika_onnx()), "magika")
    early = requests.post(f"{live.url}/model/{model_id}/load", timeout=30)
    assert early.status_code == 409
    assert "not downloaded" in early.json()["detail"]
    assert requests.post(f"{live.url}/model/{model_id}/unload", timeout=30).status_code == 409

    download(live, model_id)
    wait_for(lambda: snapshot(live, model_id)["downloaded"], 60, "download", live)
    loaded = requests.post(f"{live.url}/model/{model_id}/load", timeout=90)
    assert loaded.status_code == 200, loaded.text
    body = loaded.json()
    assert body["loaded"] is True and body["ram"]["value"] > 0
    name, version = body["unique"].split(":")

    data = np.random.default_rng(0).integers(0, 256, size=(1, 2048), dtype=np.int32)
    expected = ov.Core().compile_model(str(magika_onnx()), "CPU")({"bytes": data})[0]
    client = triton.InferenceServerClient(live.url.removeprefix("http://"))
    assert client.is_model_ready(name, version)
    for binary in (False, True, False, True):  # several connections: both server processes answer
        tensor = triton.InferInput("bytes", [1, 2048], "INT32")
        tensor.set_data_from_numpy(data, binary_data=binary)
        result = client.infer(
            name, [tensor], outputs=[triton.InferRequestedOutput("target_label", binary_data=binary)]
        )
        np.testing.assert_allclose(result.as_numpy("target_label"), expected, rtol=1e-5, atol=1e-6)
        client.close()
        client = triton.InferenceServerClient(live.url.removeprefix("http://"))

    unloaded = requests.post(f"{live.url}/model/{model_id}/unload", timeout=90)
    assert unloaded.status_code == 200, unloaded.text
    assert unloaded.json()["loaded"] is False and unloaded.json()["ram"] is None
    deadline = time.monotonic() + 5
    status = 200
    while status == 200 and time.monotonic() < deadline:
        status = requests.post(
            f"{live.url}/v2/models/{name}/infer",
            json={
                "inputs": [
                    {"name": "bytes", "shape": [1, 2048], "datatype": "INT32", "data": data.ravel().tolist()}
                ]
            },
            timeout=10,
        ).status_code
    assert status == 404
    assert requests.post(f"{live.url}/model/{model_id}/unload", timeout=30).status_code == 409


def test_unknown_model_is_404_for_load_and_unload(live: LiveService) -> None:
    for action in ("load", "unload"):
        response = requests.post(f"{live.url}/model/nope/{action}", timeout=10)
        assert response.status_code == 404
        assert "nope" in response.json()["detail"]
