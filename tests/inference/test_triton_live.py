"""Triton's extensions as tritonclient (sync and aio) uses them, against real server processes serving Triton's
`simple` example model: statistics, repository index/load/unload, model config, compression both ways and
class_count. The calls are those of Triton's HTTP example clients (simple_http_infer_client.py,
simple_http_aio_infer_client.py, simple_http_async_infer_client.py, simple_http_model_control.py)."""

import asyncio
import gzip
import time
import zlib
from collections.abc import Iterator

import numpy as np
import orjson
import pytest
import requests
import tritonclient.http as httpclient
import tritonclient.http.aio as aioclient
from tritonclient.utils import InferenceServerException

from tests.inference.conftest import triton_repository
from tests.live import LiveService, live_service

pytestmark = pytest.mark.live

INPUT0 = np.arange(16, dtype=np.int32).reshape(1, 16)
INPUT1 = np.full((1, 16), -1, dtype=np.int32)
# tritonclient < 2.42 forgot `import gzip` in its aio client: request compression raises NameError there
# (the sync client's request compression is tested either way).
AIO_COMPRESSES_REQUESTS = hasattr(aioclient, "gzip")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """Two server processes."""
    folder = tmp_path_factory.mktemp("triton-live")
    with live_service(folder / "data", workers=2, with_worker=False) as service:
        triton_repository(service, folder)
        yield service


def url(server: LiveService) -> str:
    return server.url.removeprefix("http://")


def simple_inputs(binary0: bool = False, binary1: bool = True, module=httpclient) -> list:
    inputs = [module.InferInput("INPUT0", [1, 16], "INT32"), module.InferInput("INPUT1", [1, 16], "INT32")]
    inputs[0].set_data_from_numpy(INPUT0, binary_data=binary0)
    inputs[1].set_data_from_numpy(INPUT1, binary_data=binary1)
    return inputs


def check_sum_and_difference(result) -> None:
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), INPUT0 + INPUT1)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT1"), INPUT0 - INPUT1)


def texts(array: np.ndarray) -> list[str]:
    """BYTES elements as text (tritonclient gives bytes for binary data, str for JSON)."""
    return [v.decode() if isinstance(v, bytes) else v for v in array.tolist()]


def wait_for_count(client, name: str, count: int) -> dict:
    """Statistics of other processes arrive within their flush period (0.5 s)."""
    deadline = time.monotonic() + 10
    while True:
        stats = client.get_inference_statistics(name)
        if (
            stats["model_stats"][0]["inference_stats"]["success"]["count"] >= count
            or time.monotonic() > deadline
        ):
            return stats
        time.sleep(0.2)


class TestStatistics:
    def test_counts_every_inference_of_every_server_process(self, server):
        client = httpclient.InferenceServerClient(url(server))
        before = client.get_inference_statistics("simple")["model_stats"][0]["inference_stats"]["success"][
            "count"
        ]
        for _ in range(12):  # two server processes: the kernel spreads the connections
            check_sum_and_difference(
                httpclient.InferenceServerClient(url(server)).infer("simple", simple_inputs())
            )
        with pytest.raises(InferenceServerException):
            client.infer(
                "simple",
                [
                    httpclient.InferInput("INPUT0", [1, 3], "INT32").set_data_from_numpy(
                        np.zeros((1, 3), np.int32)
                    )
                ],
            )
        stats = wait_for_count(client, "simple", before + 12)
        (entry,) = stats["model_stats"]
        assert (entry["name"], entry["version"]) == ("simple", "1")
        inference = entry["inference_stats"]
        assert (
            inference["success"]["count"]
            == before + 12
            == entry["execution_count"]
            == entry["inference_count"]
        )
        assert inference["fail"]["count"] >= 1
        for stat in ("success", "queue", "compute_input", "compute_infer", "compute_output"):
            assert inference[stat]["count"] == before + 12 and inference[stat]["ns"] >= 0
        assert inference["success"]["ns"] > inference["compute_infer"]["ns"] > 0
        assert entry["batch_stats"][0]["batch_size"] == 1 and entry["last_inference"] > 0

    def test_all_models_one_version_and_unknown_names(self, server):
        client = httpclient.InferenceServerClient(url(server))
        names = {entry["name"] for entry in client.get_inference_statistics()["model_stats"]}
        assert {"simple", "scores"} <= names
        assert client.get_inference_statistics("simple", "1")["model_stats"][0]["version"] == "1"
        for name, version, text in [("nope", "", "Model with requested name is not found"),
                                    ("simple", "9", "Model with requested version is not found")]:  # fmt: skip
            with pytest.raises(InferenceServerException) as caught:
                client.get_inference_statistics(name, version)
            assert caught.value.message() == text and caught.value.status() == "404"


class TestModelConfig:
    def test_config_of_the_simple_model(self, server):
        config = httpclient.InferenceServerClient(url(server)).get_model_config("simple")
        assert (
            config["name"] == "simple"
            and config["platform"] == "openvino"
            and config["backend"] == "openvino"
        )
        assert [(i["name"], i["data_type"]) for i in config["input"]] == [
            ("INPUT0", "TYPE_INT32"),
            ("INPUT1", "TYPE_INT32"),
        ]
        assert [o["name"] for o in config["output"]] == ["OUTPUT0", "OUTPUT1"]
        assert config["input"][0]["dims"] == [1, 16] and config["max_batch_size"] == 0
        assert config["instance_group"][0]["count"] >= 1
        assert (
            httpclient.InferenceServerClient(url(server)).get_model_config("simple", "1")["name"] == "simple"
        )


class TestCompression:
    @pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
    @pytest.mark.parametrize("binary", [False, True])
    def test_compressed_requests_and_responses(self, server, algorithm, binary):
        client = httpclient.InferenceServerClient(url(server))
        outputs = [httpclient.InferRequestedOutput("OUTPUT0", binary_data=binary),
                   httpclient.InferRequestedOutput("OUTPUT1", binary_data=False)]  # fmt: skip
        result = client.infer(
            "simple", simple_inputs(binary, binary), outputs=outputs, request_compression_algorithm=algorithm,
            response_compression_algorithm=algorithm,
        )  # fmt: skip
        check_sum_and_difference(result)

    @pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
    def test_response_encoding_header(self, server, algorithm):
        body = orjson.dumps({"inputs": [{"name": n, "shape": [1, 16], "datatype": "INT32", "data": [1] * 16}
                                        for n in ("INPUT0", "INPUT1")]})  # fmt: skip
        response = requests.post(f"{server.url}/v2/models/simple/infer", data=body,
                                 headers={"Accept-Encoding": algorithm}, stream=True, timeout=10)  # fmt: skip
        assert response.headers["Content-Encoding"] == algorithm
        raw = response.raw.read()
        plain = gzip.decompress(raw) if algorithm == "gzip" else zlib.decompress(raw)
        assert orjson.loads(plain)["outputs"][0]["data"] == [2] * 16

    def test_a_zip_bomb_is_413_in_the_error_shape(self, server):
        bomb = gzip.compress(b" " * (300 * 2**20))  # 300 MiB of JSON whitespace, limit 256 MiB
        response = requests.post(f"{server.url}/v2/models/simple/infer", data=bomb,
                                 headers={"Content-Encoding": "gzip"}, timeout=60)  # fmt: skip
        assert response.status_code == 413
        assert response.json()["error"].startswith("Request body too large")

    def test_corrupt_data_and_unknown_encodings(self, server):
        corrupt = requests.post(f"{server.url}/v2/models/simple/infer", data=b"nope",
                                headers={"Content-Encoding": "deflate"}, timeout=10)  # fmt: skip
        assert corrupt.status_code == 400 and "not valid deflate data" in corrupt.json()["error"]
        unknown = requests.post(f"{server.url}/v2/models/simple/infer", data=b"{}",
                                headers={"Content-Encoding": "br"}, timeout=10)  # fmt: skip
        assert unknown.status_code == 415 and unknown.json() == {"error": "Unsupported Content-Encoding: br"}


class TestClassification:
    @pytest.mark.parametrize("binary", [True, False])
    def test_top_k_with_the_registry_labels(self, server, binary):
        client = httpclient.InferenceServerClient(url(server))
        scores = httpclient.InferInput("scores", [1, 5], "FP32")
        scores.set_data_from_numpy(np.array([[0.1, 0.5, -1.0, 0.25, 0.75]], dtype=np.float32))
        output = httpclient.InferRequestedOutput("probabilities", binary_data=binary, class_count=3)
        result = client.infer("scores", [scores], outputs=[output])
        assert result.get_output("probabilities")["datatype"] == "BYTES"
        assert result.get_output("probabilities")["shape"] == [3]
        assert texts(result.as_numpy("probabilities")) == ["0.750000:4", "0.500000:1:dog", "0.250000:3"]

    def test_integer_output_without_labels(self, server):
        client = httpclient.InferenceServerClient(url(server))
        outputs = [httpclient.InferRequestedOutput("OUTPUT0", binary_data=False, class_count=2),
                   httpclient.InferRequestedOutput("OUTPUT1")]  # fmt: skip
        result = client.infer("simple", simple_inputs(), outputs=outputs)
        assert texts(result.as_numpy("OUTPUT0")) == ["14:15", "13:14"]
        np.testing.assert_array_equal(result.as_numpy("OUTPUT1"), INPUT0 - INPUT1)


class TestModelRepository:
    def test_index_load_and_unload_on_every_process(self, server):
        client = httpclient.InferenceServerClient(url(server))
        index = client.get_model_repository_index()
        assert len(index) == 7  # simple_http_model_control.py checks this
        assert {"name": "simple", "version": "1", "state": "READY", "reason": ""} in index
        ready = requests.post(f"{server.url}/v2/repository/index", json={"ready": True}, timeout=10).json()
        assert sorted(entry["name"] for entry in ready) == ["scores", "simple"]

        client.unload_model("const3")  # not served: nothing to do
        client.load_model("const3")
        for _ in range(6):  # every server process serves it once load_model returns
            assert httpclient.InferenceServerClient(url(server)).is_model_ready("const3")
        assert {
            "name": "const3",
            "version": "1",
            "state": "READY",
            "reason": "",
        } in client.get_model_repository_index()
        client.unload_model("const3")
        for _ in range(6):
            assert not httpclient.InferenceServerClient(url(server)).is_model_ready("const3")

    def test_model_control_example_sequence(self, server):
        client = httpclient.InferenceServerClient(url(server))
        client.load_model("simple")
        assert client.is_model_ready("simple")
        with pytest.raises(InferenceServerException) as caught:
            client.load_model("simple", config='"parameters": {"config": {{"max_batch_size": "16"}}}')
        assert "failed to load" in caught.value.message() and caught.value.status() == "400"
        client.load_model("simple", config='{"max_batch_size":"16"}')
        assert client.get_model_config("simple")["max_batch_size"] == 16
        inputs = [httpclient.InferInput(n, [3, 16], "INT32") for n in ("INPUT0", "INPUT1")]
        for tensor in inputs:
            tensor.set_data_from_numpy(np.ones((3, 16), np.int32))
        assert client.infer("simple", inputs).as_numpy("OUTPUT0").shape == (3, 16)  # a batch of 3 now
        client.unload_model("simple")
        assert not client.is_model_ready("simple")
        with pytest.raises(InferenceServerException) as caught:
            client.load_model("wrong_model_name")
        assert "failed to load" in caught.value.message()
        client.load_model("simple", config='{"max_batch_size": 0}')  # back as it was for the other tests
        assert client.is_model_ready("simple") and client.get_model_config("simple")["max_batch_size"] == 0

    def test_errors_are_json(self, server):
        response = requests.post(f"{server.url}/v2/repository/models/nothing/unload", timeout=10)
        assert response.status_code == 400
        assert response.json() == {"error": "failed to unload 'nothing', no model with this name"}
        bad = requests.post(f"{server.url}/v2/repository/index", data=b"{", timeout=10)
        assert bad.status_code == 400 and "error" in bad.json()


class TestAioClient:
    def test_the_aio_example_calls(self, server):
        async def main() -> None:
            client = aioclient.InferenceServerClient(url(server))
            try:
                outputs = [aioclient.InferRequestedOutput("OUTPUT0", binary_data=True),
                           aioclient.InferRequestedOutput("OUTPUT1", binary_data=False)]  # fmt: skip
                for algorithm in (None, "gzip", "deflate"):
                    result = await client.infer(
                        "simple", simple_inputs(module=aioclient), outputs=outputs, query_params={"test_1": 1},
                        request_compression_algorithm=algorithm if AIO_COMPRESSES_REQUESTS else None,
                        response_compression_algorithm=algorithm,
                    )  # fmt: skip
                    check_sum_and_difference(result)
                stats = await client.get_inference_statistics(model_name="simple")
                assert len(stats["model_stats"]) == 1
                first, second = await asyncio.gather(
                    client.infer("simple", simple_inputs(module=aioclient), outputs=outputs),
                    client.infer("simple", simple_inputs(module=aioclient)),
                )
                check_sum_and_difference(first)
                check_sum_and_difference(second)
                assert (await client.get_model_config("simple"))["name"] == "simple"
                index = await client.get_model_repository_index()
                assert len(index) == 7
                await client.load_model("const4")
                assert await client.is_model_ready("const4")
                await client.unload_model("const4")
                assert not await client.is_model_ready("const4")
                scores = aioclient.InferInput("scores", [1, 5], "FP32")
                scores.set_data_from_numpy(np.array([[3, 2, 1, 0, 0]], dtype=np.float32))
                result = await client.infer(
                    "scores",
                    [scores],
                    outputs=[aioclient.InferRequestedOutput("probabilities", class_count=1)],
                )
                assert result.as_numpy("probabilities").tolist() == [b"3.000000:0:cat"]
            finally:
                await client.close()

        asyncio.run(main())

    def test_async_infer_of_the_sync_client(self, server):
        client = httpclient.InferenceServerClient(url(server), concurrency=2)
        requests_ = [client.async_infer("simple", simple_inputs(True, True)) for _ in range(2)]
        for request in requests_:
            check_sum_and_difference(request.get_result())
