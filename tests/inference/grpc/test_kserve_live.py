"""KServe v2 over gRPC as tritonclient.grpc (sync, callback, asyncio, streaming) and raw protobuf stubs see it,
against a live server; outputs compared with OpenVINO called directly."""

import asyncio
import io
import queue
from functools import partial

import grpc
import numpy as np
import pytest
import requests
import tritonclient.grpc as triton
import tritonclient.grpc.aio as triton_aio
from PIL import Image
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from tests.inference.conftest import build_image_model, reference
from tests.inference.grpc.conftest import MESSAGE_LIMIT, rng, silero_inputs, simple_inputs
from tests.modelfiles import build_simple_model, build_two_io_model, magika_onnx, silero_vad_onnx

pytestmark = pytest.mark.live


def simple_request(client_module=triton, first=None, second=None):
    first, second = (first, second) if first is not None else simple_inputs()
    inputs = [client_module.InferInput("INPUT0", list(first.shape), "INT32"),
              client_module.InferInput("INPUT1", list(second.shape), "INT32")]  # fmt: skip
    inputs[0].set_data_from_numpy(first)
    inputs[1].set_data_from_numpy(second)
    return inputs


def assert_simple(result, first=None, second=None) -> None:
    first, second = (first, second) if first is not None else simple_inputs()
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), first + second)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT1"), first - second)


def refused(call, code: grpc.StatusCode) -> str:
    with pytest.raises(InferenceServerException) as caught:
        call()
    assert caught.value.status() == str(code), caught.value
    return caught.value.message()


class TestHealthAndMetadata:
    def test_server(self, server):
        client = triton.InferenceServerClient(server.grpc_address)
        assert client.is_server_live() and client.is_server_ready()
        metadata = client.get_server_metadata(as_json=True)
        assert metadata["name"] == "OpenVINO Model Server"
        assert "binary_data" in metadata["extensions"]

    def test_model_ready(self, server):
        client = triton.InferenceServerClient(server.grpc_address)
        assert client.is_model_ready("simple") and client.is_model_ready("simple", "1")
        text = refused(lambda: client.is_model_ready("no-such-model"), grpc.StatusCode.NOT_FOUND)
        assert text == "Model with requested name is not found"
        text = refused(lambda: client.is_model_ready("simple", "7"), grpc.StatusCode.NOT_FOUND)
        assert text == "Model with requested version is not found"

    def test_model_metadata(self, server):
        client = triton.InferenceServerClient(server.grpc_address)
        assert client.get_model_metadata("simple", as_json=True) == {
            "name": "simple",
            "versions": ["1"],
            "platform": "OpenVINO",
            "inputs": [{"name": "INPUT0", "datatype": "INT32", "shape": ["1", "16"]},
                       {"name": "INPUT1", "datatype": "INT32", "shape": ["1", "16"]}],
            "outputs": [{"name": "OUTPUT0", "datatype": "INT32", "shape": ["1", "16"]},
                        {"name": "OUTPUT1", "datatype": "INT32", "shape": ["1", "16"]}],
        }  # fmt: skip
        metadata = client.get_model_metadata("magika", "1")
        assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [
            ("bytes", "INT32", [-1, 2048])
        ]
        assert "not found" in refused(lambda: client.get_model_metadata("nope"), grpc.StatusCode.NOT_FOUND)


class TestInfer:
    def test_simple_with_and_without_requested_outputs(self, server):
        client = triton.InferenceServerClient(server.grpc_address)
        outputs = [triton.InferRequestedOutput("OUTPUT0"), triton.InferRequestedOutput("OUTPUT1")]
        result = client.infer(
            "simple", simple_request(), outputs=outputs, headers={"test": "1"}, request_id="r-1"
        )
        assert_simple(result)
        response = result.get_response()
        assert (response.model_name, response.model_version, response.id) == ("simple", "1", "r-1")
        assert_simple(client.infer("simple", simple_request(), model_version="1"))

    def test_requested_output_subset_and_mixed_types(self, server, openvino_core):
        client = triton.InferenceServerClient(server.grpc_address)
        a = rng.standard_normal((1, 3)).astype(np.float32)
        b = rng.integers(-5, 5, (1, 3)).astype(np.int32)
        inputs = [triton.InferInput("a", [1, 3], "FP32"), triton.InferInput("b", [1, 3], "INT32")]
        inputs[0].set_data_from_numpy(a)
        inputs[1].set_data_from_numpy(b)
        result = client.infer("two-io", inputs, outputs=[triton.InferRequestedOutput("prod")])
        assert [o.name for o in result.get_response().outputs] == ["prod"]
        expected = reference(openvino_core, build_two_io_model(), {"a": a, "b": b})["prod"]
        np.testing.assert_allclose(result.as_numpy("prod"), expected, rtol=1e-6)
        assert result.as_numpy("sum") is None

    def test_two_float_inputs_and_outputs_match_openvino(self, server, openvino_core):
        client = triton.InferenceServerClient(server.grpc_address)
        data = silero_inputs()
        inputs = []
        for name, array in data.items():
            tensor = triton.InferInput(name, list(array.shape), "FP32")
            tensor.set_data_from_numpy(array)
            inputs.append(tensor)
        result = client.infer("silero", inputs)
        expected = reference(openvino_core, silero_vad_onnx(), data)
        for name in ("output", "stateN"):
            np.testing.assert_allclose(result.as_numpy(name), expected[name], rtol=1e-5, atol=1e-6)

    def test_heavy_model_with_dynamic_batch(self, server, openvino_core):
        client = triton.InferenceServerClient(server.grpc_address)
        data = rng.integers(0, 257, (2, 2048)).astype(np.int32)
        tensor = triton.InferInput("bytes", [2, 2048], "INT32")
        tensor.set_data_from_numpy(data)
        result = client.infer("magika", [tensor])
        expected = reference(openvino_core, magika_onnx(), {"bytes": data})["target_label"]
        np.testing.assert_allclose(result.as_numpy("target_label"), expected, rtol=1e-5, atol=1e-6)

    def test_bytes_strings_raw_and_typed(self, server):
        client = triton.InferenceServerClient(server.grpc_address)
        words = np.array([b"hello", b"", "grüße".encode()], dtype=np.object_)
        tensor = triton.InferInput("text", [3], "BYTES")
        tensor.set_data_from_numpy(words)
        result = client.infer("echo", [tensor])
        assert result.get_response().outputs[0].datatype == "BYTES"
        assert result.as_numpy("text").tolist() == words.tolist()

        stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(server.grpc_address))
        request = service_pb2.ModelInferRequest(model_name="echo")
        typed = request.inputs.add(name="text", datatype="BYTES", shape=[2])
        typed.contents.bytes_contents.extend([b"a", b"bc"])
        response = stub.ModelInfer(request)
        assert response.raw_output_contents[0] == b"\x01\x00\x00\x00a\x02\x00\x00\x00bc"

    def test_bytes_to_a_4d_input_are_decoded_images(self, server, openvino_core):
        picture = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        png = io.BytesIO()
        Image.fromarray(picture).save(png, format="PNG")
        client = triton.InferenceServerClient(server.grpc_address)
        tensor = triton.InferInput("image", [1], "BYTES")
        tensor.set_data_from_numpy(np.array([png.getvalue()], dtype=object))
        result = client.infer("image", [tensor])
        bgr = picture[:, :, ::-1].astype(np.float32)[np.newaxis]  # decoded as OVMS does (OpenCV: BGR)
        expected = reference(openvino_core, build_image_model(), {"image": bgr})["mean"]
        np.testing.assert_allclose(result.as_numpy("mean"), expected, rtol=1e-5)

    def test_typed_int_contents_as_grpc_explicit_int_content_client(self, server):
        """Triton's grpc_explicit_int_content_client.py: typed contents, then contents next to raw contents."""
        stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(server.grpc_address))
        request = service_pb2.ModelInferRequest(model_name="simple", model_version="")
        for name, values in (("INPUT0", list(range(16))), ("INPUT1", [1] * 16)):
            tensor = request.inputs.add(name=name, datatype="INT32", shape=[1, 16])
            tensor.contents.int_contents[:] = values
        request.outputs.add(name="OUTPUT0")
        request.outputs.add(name="OUTPUT1")
        response = stub.ModelInfer(request)
        total, difference = (np.frombuffer(raw, dtype=np.int32) for raw in response.raw_output_contents)
        np.testing.assert_array_equal(total, np.arange(16) + 1)
        np.testing.assert_array_equal(difference, np.arange(16) - 1)

        request.raw_input_contents.extend([np.arange(8).tobytes()])
        request.inputs[0].contents.int_contents[:] = list(range(8, 16))
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (
            "contents field must not be specified when using raw_input_contents for 'INPUT0' for model 'simple'"
            in caught.value.details()
        )


class TestAsyncClients:
    def test_callback_async_infer(self, server):
        client = triton.InferenceServerClient(server.grpc_address)
        results: queue.Queue = queue.Queue()
        client.async_infer(
            "simple", simple_request(), partial(lambda q, result, error: q.put((result, error)), results)
        )
        result, error = results.get(timeout=30)
        assert error is None
        assert_simple(result)

    def test_asyncio_client_in_parallel(self, server):
        async def run() -> None:
            async with triton_aio.InferenceServerClient(server.grpc_address) as client:
                assert await client.is_server_live() and await client.is_model_ready("simple")
                datas = [simple_inputs()[0] * k for k in range(1, 9)]
                results = await asyncio.gather(
                    *(client.infer("simple", simple_request(triton_aio, d, np.ones_like(d))) for d in datas)
                )
                for data, result in zip(datas, results, strict=True):
                    assert_simple(result, data, np.ones_like(data))

        asyncio.run(run())

    def test_streaming_answers_in_order_and_goes_on_after_an_error(self, server):
        client = triton.InferenceServerClient(server.grpc_address)
        results: queue.Queue = queue.Queue()
        client.start_stream(partial(lambda q, result, error: q.put((result, error)), results))
        try:
            first, second = simple_inputs()
            client.async_stream_infer("simple", simple_request(), request_id="1")
            client.async_stream_infer("no-such-model", simple_request(), request_id="2")
            client.async_stream_infer("simple", simple_request(triton, first * 3, second), request_id="3")
            answers = [results.get(timeout=30) for _ in range(3)]
        finally:
            client.stop_stream()
        assert answers[0][1] is None and answers[0][0].get_response().id == "1"
        assert_simple(answers[0][0])
        assert answers[1][0] is None and "Model with requested name is not found" in str(answers[1][1])
        assert_simple(answers[2][0], first * 3, second)


ERROR_CASES = [
    # (model, inputs as (name, shape, datatype, array), requested output, code, text)
    ("no-such-model", None, None, grpc.StatusCode.NOT_FOUND, "Model with requested name is not found"),
    ("simple", [("INPUT0", np.zeros((1, 16), np.int32))], None, grpc.StatusCode.INVALID_ARGUMENT,
     "Invalid number of inputs - Expected: 2; Actual: 1"),
    ("simple", [("INPUT0", np.zeros((1, 8), np.int32)), ("INPUT1", np.zeros((1, 8), np.int32))], None,
     grpc.StatusCode.INVALID_ARGUMENT, "Invalid input shape - Expected: (1,16); Actual: (1,8); input name: INPUT0"),
    ("simple", [("INPUT0", np.zeros((1, 16), np.float32)), ("INPUT1", np.zeros((1, 16), np.int32))], None,
     grpc.StatusCode.INVALID_ARGUMENT, "Invalid input precision - Expected: I32; Actual: FP32; input name: INPUT0"),
    ("simple", [("INPUT0", np.zeros((16,), np.int32)), ("INPUT1", np.zeros((16,), np.int32))], None,
     grpc.StatusCode.INVALID_ARGUMENT,
     "Invalid number of shape dimensions - Expected: (1,16); Actual: (16); input name: INPUT0"),
    ("simple", [("INPUT0", np.zeros((1, 16), np.int32)), ("INPUT2", np.zeros((1, 16), np.int32))], None,
     grpc.StatusCode.INVALID_ARGUMENT, "Missing input with specific name - Required input: INPUT1"),
    ("simple", None, "NOPE", grpc.StatusCode.INVALID_ARGUMENT, "Missing output with specific name - Required output: NOPE"),
]  # fmt: skip


class TestErrors:
    @pytest.mark.parametrize(("model", "arrays", "output", "code", "text"), ERROR_CASES)
    def test_infer_errors(self, server, model, arrays, output, code, text):
        client = triton.InferenceServerClient(server.grpc_address)
        if arrays is None:
            inputs = simple_request()
        else:
            inputs = []
            for name, array in arrays:
                tensor = triton.InferInput(
                    name, list(array.shape), "FP32" if array.dtype == np.float32 else "INT32"
                )
                tensor.set_data_from_numpy(array)
                inputs.append(tensor)
        outputs = [triton.InferRequestedOutput(output)] if output else None
        assert refused(lambda: client.infer(model, inputs, outputs=outputs), code) == text

    def test_unknown_or_malformed_version(self, server):
        client = triton.InferenceServerClient(server.grpc_address)
        for version in ("9", "x", "-1", "²"):
            text = refused(lambda v=version: client.infer("simple", simple_request(), model_version=v),
                           grpc.StatusCode.NOT_FOUND)  # fmt: skip
            assert text == "Model with requested version is not found"

    def test_raw_contents_of_the_wrong_size(self, server):
        stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(server.grpc_address))
        request = service_pb2.ModelInferRequest(model_name="simple")
        request.inputs.add(name="INPUT0", datatype="INT32", shape=[1, 16])
        request.inputs.add(name="INPUT1", datatype="INT32", shape=[1, 16])
        request.raw_input_contents.extend(
            [np.zeros(16, np.int32).tobytes(), np.zeros(15, np.int32).tobytes()]
        )
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details() == (
            "Invalid content size of tensor proto - Expected: 64 bytes; Actual: 60 bytes; input name: INPUT1"
        )

    def test_typed_contents_with_too_few_values(self, server):
        stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(server.grpc_address))
        request = service_pb2.ModelInferRequest(model_name="simple")
        for name in ("INPUT0", "INPUT1"):
            request.inputs.add(name=name, datatype="INT32", shape=[1, 16]).contents.int_contents.extend(
                [1] * 15
            )
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details() == (
            "Invalid number of values in tensor proto container - Expected: 16 values; Actual: 15 values; "
            "input name: INPUT0"
        )

    def test_messages_above_the_limit_are_refused(self, server):
        client = triton.InferenceServerClient(server.grpc_address)
        big = np.zeros((MESSAGE_LIMIT // 8192 + 1, 2048), np.int32)
        tensor = triton.InferInput("bytes", list(big.shape), "INT32")
        tensor.set_data_from_numpy(big)
        refused(lambda: client.infer("magika", [tensor]), grpc.StatusCode.RESOURCE_EXHAUSTED)
        assert client.is_server_live()


def test_metrics_count_grpc_requests(server):
    client = triton.InferenceServerClient(server.grpc_address)
    assert_simple(client.infer("simple", simple_request()))
    refused(lambda: client.infer("simple", simple_request(), outputs=[triton.InferRequestedOutput("NOPE")]),
            grpc.StatusCode.INVALID_ARGUMENT)  # fmt: skip
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    assert (
        'ovms_requests_success{api="KServe",interface="gRPC",method="ModelInfer",name="simple",version="1"}'
        in text
    )
    assert (
        'ovms_requests_fail{api="KServe",interface="gRPC",method="ModelInfer",name="simple",version="1"}'
        in text
    )
    assert 'ovms_request_time_us_count{interface="gRPC",name="simple",version="1"}' in text


def test_outputs_match_openvino_for_random_simple_inputs(server, openvino_core):
    first = rng.integers(-1000, 1000, (1, 16)).astype(np.int32)
    second = rng.integers(-1000, 1000, (1, 16)).astype(np.int32)
    result = triton.InferenceServerClient(server.grpc_address).infer(
        "simple", simple_request(triton, first, second)
    )
    expected = reference(openvino_core, build_simple_model(), {"INPUT0": first, "INPUT1": second})
    for name in ("OUTPUT0", "OUTPUT1"):
        np.testing.assert_array_equal(result.as_numpy(name), expected[name])
