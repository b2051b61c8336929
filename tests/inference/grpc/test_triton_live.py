"""Triton's extensions over gRPC as tritonclient.grpc uses them: statistics, model configuration, repository
index/load/unload and class_count, with the calls of Triton's gRPC example clients (simple_grpc_infer_client.py,
simple_grpc_aio_infer_client.py, simple_grpc_model_control.py)."""

import asyncio
from collections.abc import Iterator

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
import tritonclient.grpc.aio as triton_aio
from tritonclient.utils import InferenceServerException

from tests.inference.conftest import triton_repository
from tests.live import LiveService, live_service

pytestmark = pytest.mark.live

INPUT0 = np.arange(16, dtype=np.int32).reshape(1, 16)
INPUT1 = np.ones((1, 16), dtype=np.int32)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    folder = tmp_path_factory.mktemp("grpc-triton-live")
    with live_service(folder / "data", with_worker=False) as service:
        triton_repository(service, folder)
        yield service


def simple_inputs(module=triton) -> list:
    inputs = [module.InferInput("INPUT0", [1, 16], "INT32"), module.InferInput("INPUT1", [1, 16], "INT32")]
    inputs[0].set_data_from_numpy(INPUT0)
    inputs[1].set_data_from_numpy(INPUT1)
    return inputs


def check(result) -> None:
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), INPUT0 + INPUT1)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT1"), INPUT0 - INPUT1)


def refused(call, code: grpc.StatusCode) -> str:
    with pytest.raises(InferenceServerException) as caught:
        call()
    assert caught.value.status() == str(code), caught.value
    return caught.value.message()


class TestStatistics:
    def test_the_infer_example_calls(self, server):
        """simple_grpc_infer_client.py: infer with outputs and a header, statistics of one model, infer again."""
        client = triton.InferenceServerClient(server.grpc_address)
        outputs = [triton.InferRequestedOutput("OUTPUT0"), triton.InferRequestedOutput("OUTPUT1")]
        check(client.infer("simple", simple_inputs(), outputs=outputs, headers={"test": "1"}))
        statistics = client.get_inference_statistics(model_name="simple")
        assert len(statistics.model_stats) == 1
        check(client.infer("simple", simple_inputs(), outputs=None))

    def test_counts_grpc_inferences(self, server):
        client = triton.InferenceServerClient(server.grpc_address)
        before = client.get_inference_statistics("simple", as_json=True)["model_stats"][0]
        before_count = int(before["inference_stats"]["success"].get("count", 0))
        for _ in range(5):
            check(client.infer("simple", simple_inputs()))
        refused(lambda: client.infer("simple", simple_inputs()[:1]), grpc.StatusCode.INVALID_ARGUMENT)
        (entry,) = client.get_inference_statistics("simple", "1").model_stats
        assert (entry.name, entry.version) == ("simple", "1")
        assert entry.inference_stats.success.count == before_count + 5 == entry.execution_count
        assert entry.inference_stats.fail.count >= 1
        assert entry.inference_stats.success.ns > entry.inference_stats.compute_infer.ns > 0
        assert entry.batch_stats[0].batch_size == 1 and entry.last_inference > 0

    def test_all_models_and_unknown_names(self, server):
        client = triton.InferenceServerClient(server.grpc_address)
        assert {"simple", "scores"} <= {entry.name for entry in client.get_inference_statistics().model_stats}
        text = refused(lambda: client.get_inference_statistics("nope"), grpc.StatusCode.NOT_FOUND)
        assert text == "Model with requested name is not found"
        text = refused(lambda: client.get_inference_statistics("simple", "9"), grpc.StatusCode.NOT_FOUND)
        assert text == "Model with requested version is not found"

    def test_the_aio_example_calls(self, server):
        """simple_grpc_aio_infer_client.py: infer, statistics, two inferences in parallel."""

        async def run() -> None:
            client = triton_aio.InferenceServerClient(server.grpc_address)
            try:
                check(await client.infer("simple", simple_inputs(triton_aio), headers={"test": "1"}))
                statistics = await client.get_inference_statistics(model_name="simple")
                assert len(statistics.model_stats) == 1
                first, second = await asyncio.gather(
                    client.infer("simple", simple_inputs(triton_aio)),
                    client.infer("simple", simple_inputs(triton_aio)),
                )
                check(first)
                check(second)
            finally:
                await client.close()

        asyncio.run(run())


class TestModelConfig:
    def test_config_of_the_simple_model(self, server):
        client = triton.InferenceServerClient(server.grpc_address)
        config = client.get_model_config("simple").config
        assert (config.name, config.platform, config.backend, config.max_batch_size) == (
            "simple",
            "openvino",
            "openvino",
            0,
        )
        assert [(i.name, i.data_type, list(i.dims)) for i in config.input] == [
            ("INPUT0", 8, [1, 16]),  # TYPE_INT32
            ("INPUT1", 8, [1, 16]),
        ]
        assert [o.name for o in config.output] == ["OUTPUT0", "OUTPUT1"]
        assert config.instance_group[0].count >= 1
        as_json = client.get_model_config("simple", "1", as_json=True)["config"]
        assert as_json["input"][0]["data_type"] == "TYPE_INT32"
        refused(lambda: client.get_model_config("nope"), grpc.StatusCode.NOT_FOUND)


class TestClassification:
    def test_top_k_with_the_registry_labels(self, server):
        client = triton.InferenceServerClient(server.grpc_address)
        scores = triton.InferInput("scores", [1, 5], "FP32")
        scores.set_data_from_numpy(np.array([[0.1, 0.5, -1.0, 0.25, 0.75]], dtype=np.float32))
        result = client.infer(
            "scores", [scores], outputs=[triton.InferRequestedOutput("probabilities", class_count=3)]
        )
        output = result.get_output("probabilities")
        assert (output.datatype, list(output.shape)) == ("BYTES", [3])
        assert [v.decode() for v in result.as_numpy("probabilities")] == [
            "0.750000:4",
            "0.500000:1:dog",
            "0.250000:3",
        ]


class TestModelRepository:
    def test_index_load_and_unload(self, server):
        client = triton.InferenceServerClient(server.grpc_address)
        index = client.get_model_repository_index()
        assert len(index.models) == 7
        assert ("simple", "1", "READY") in [(m.name, m.version, m.state) for m in index.models]
        client.load_model("const3")
        assert client.is_model_ready("const3")
        client.unload_model("const3")
        assert not client.is_model_ready(
            "const3"
        )  # known, unloaded: not ready (an unknown name is NOT_FOUND)

    def test_the_model_control_example_calls(self, server):
        """simple_grpc_model_control.py, up to what it needs of Triton's own repository layout."""
        client = triton.InferenceServerClient(server.grpc_address)
        client.load_model("simple")
        assert client.is_model_ready("simple")
        with pytest.raises(InferenceServerException) as caught:
            client.load_model("simple", config='"parameters": {"config": {{"max_batch_size": "16"}}}')
        assert "failed to load" in caught.value.message()
        client.load_model("simple", config='{"max_batch_size":"16"}')
        assert client.get_model_config("simple").config.max_batch_size == 16
        client.unload_model("simple")
        assert not client.is_model_ready("simple")
        with pytest.raises(InferenceServerException) as caught:
            client.load_model("wrong_model_name")
        assert "failed to load" in caught.value.message()
        client.load_model("simple", config='{"max_batch_size": 0}')  # back as it was for the other tests
        assert client.is_model_ready("simple")
