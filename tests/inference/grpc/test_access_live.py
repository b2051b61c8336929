"""The access policy on gRPC (issue 13, the `access` app): under MODELHUB_AUTH=all a call needs a key with its
method's scope in the `authorization` metadata; liveness stays open. Skipped where the access app is absent."""

import grpc
import numpy as np
import pytest
import requests
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

from tests.inference.conftest import serve
from tests.live import live_service
from tests.modelfiles import build_simple_model, ir_zip

pytest.importorskip("access.policy")
pytestmark = pytest.mark.live


def key(service, name: str, scopes: str) -> str:
    return service.manage("create_api_key", name, "--scopes", scopes).stdout.strip().splitlines()[-1]


def refused(call, code: grpc.StatusCode) -> None:
    with pytest.raises(InferenceServerException) as caught:
        call()
    assert caught.value.status() == str(code), caught.value


def test_keys_and_scopes_on_grpc(tmp_path):
    with live_service(tmp_path / "data", with_worker=False, env={"MODELHUB_AUTH": "all"}) as service:
        writer = key(service, "writer", "write")
        response = requests.post(
            f"{service.url}/models",
            files={"file": ("simple.zip", ir_zip(build_simple_model(), tmp_path), "application/zip")},
            data={"id": "simple", "name": "simple", "version": "1"},
            headers={"Authorization": f"Bearer {writer}"},
            timeout=30,
        )
        assert response.status_code == 201, response.text
        serve(service, "simple")
        inferer, reader = key(service, "inferer", "infer"), key(service, "reader", "read")

        client = triton.InferenceServerClient(service.grpc_address)
        assert client.is_server_live()  # "open"
        data = np.ones((1, 16), np.int32)
        inputs = [triton.InferInput(n, [1, 16], "INT32") for n in ("INPUT0", "INPUT1")]
        for tensor in inputs:
            tensor.set_data_from_numpy(data)
        refused(lambda: client.infer("simple", inputs), grpc.StatusCode.UNAUTHENTICATED)
        refused(lambda: client.infer("simple", inputs, headers={"authorization": "Bearer nope"}),
                grpc.StatusCode.UNAUTHENTICATED)  # fmt: skip
        refused(lambda: client.infer("simple", inputs, headers={"authorization": f"Bearer {reader}"}),
                grpc.StatusCode.PERMISSION_DENIED)  # fmt: skip
        result = client.infer("simple", inputs, headers={"authorization": f"Bearer {inferer}"})
        np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), data * 2)
        refused(lambda: client.unload_model("simple", headers={"authorization": f"Bearer {inferer}"}),
                grpc.StatusCode.PERMISSION_DENIED)  # fmt: skip
