"""The per-request bounds of inference.protocols.limits and where the protocols apply them (issue 20: findings 3
and 7, and the same patterns elsewhere): counted before parsing, chunked, off the event loop."""

import asyncio
import io
import struct
import threading
import time
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from inference import handlers, metrics
from inference.protocols import errors, images, limits
from inference.protocols.errors import InferenceError
from inference.protocols.kserve import split_bytes
from inference.protocols.routing import Kind, Route
from inference.protocols.tensors import _check_depth, loads
from inference.protocols.validation import RequestTensor, avalidate_inputs
from tests.inference.test_protocols import spec


def test_a_static_model_allows_three_values_per_element_and_a_dynamic_one_the_cap(settings):
    settings.INFERENCE_MAX_JSON_VALUES = 5000
    assert (
        limits.json_value_allowance([spec("a", "INT32", 1, 16), spec("b", "INT32", 1, 16)]) == 3 * 32 + 4096
    )
    assert limits.json_value_allowance([spec("a", "FP32", -1, 16)]) == 5000
    assert limits.json_value_allowance([]) == 4096  # no model (repository requests): the slack only


def test_values_are_counted_without_parsing(settings):
    simple = [spec("a", "INT32", 1, 16), spec("b", "INT32", 1, 16)]  # 4192 values at most
    document = b'{"inputs":[{"name":"a","data":[' + b"[]," * 30_000 + b"[]]}]}"
    with pytest.raises(InferenceError) as refused:
        limits.check_json(document, inputs=simple)
    assert refused.value.status == 413 and refused.value.text.startswith(
        "Too many values in the JSON request"
    )
    with pytest.raises(InferenceError):
        limits.check_json(memoryview(document), inputs=simple)  # the JSON part of a binary request
    limits.check_json(document, inputs=[spec("a", "INT32", 1, 30_000)])
    limits.check_json(document[:60_000], inputs=simple)  # 64 KiB or less: never counted
    settings.INFERENCE_MAX_JSON_BYTES = 1024
    with pytest.raises(InferenceError) as refused:
        limits.check_json(document, inputs=simple)
    assert refused.value.text == f"JSON request too large - {len(document)} bytes; the limit is 1024 bytes"


def test_the_depth_check_works_in_chunks():
    body = b"[" + b"[0]," * (6 * 2**20) + b"[0]]"  # 24 MiB, millions of brackets, never deeper than 2
    tracemalloc.start()
    try:
        _check_depth(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Before: the bracket steps and running depths of the whole body at once, ~7 bytes per byte (170 MiB).
    assert peak < 16 * 2**20, peak / 2**20
    too_deep = b"[" + b"0," * 2**20 + b"[" * 101 + b"]" * 102
    with pytest.raises(InferenceError) as refused:
        loads(too_deep)
    assert refused.value.text.endswith(f"Offset: {1 + 2 * 2**20 + 99}")  # depth 101: offset in the body


def test_bytes_elements_stop_at_the_declared_count():
    flood = memoryview(bytes(4 * 1_000_000))  # a million empty elements in 4 MB
    with pytest.raises(InferenceError) as refused:
        split_bytes(flood, "text", 16)
    assert (
        refused.value.text
        == "Invalid number of values in tensor proto container - Expected: at most 16 values; Actual: more; input name: text"
    )
    assert split_bytes(memoryview(struct.pack("<I", 2) + b"hi"), "text", 1) == [b"hi"]


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_image_pixels_are_bounded_per_image_and_per_request(settings):
    settings.INFERENCE_IMAGE_PIXEL_FACTOR = 4
    settings.INFERENCE_IMAGE_MAX_PIXELS = 1000
    static = spec("image", "FP32", 1, 8, 8, 3)
    assert images.decode_images([png(16, 16)], static).shape == (1, 8, 8, 3)  # 256 = 4 x 64 pixels
    with pytest.raises(InferenceError) as refused:
        images.decode_images([png(17, 16)], static)
    assert "image of 17x16 pixels, more than the 256 pixels allowed per image" in refused.value.text
    dynamic = spec("image", "FP32", -1, -1, -1, 3)
    assert images.decode_images([png(30, 30)], dynamic).shape == (1, 30, 30, 3)  # the cap: 1000
    with pytest.raises(InferenceError) as refused:
        images.decode_images([png(30, 30), png(30, 30)], dynamic)
    assert "more than 1000 pixels together" in refused.value.text
    with pytest.raises(InferenceError):
        images.decode_images([b"GIF89a" + bytes(100)], static)  # only JPEG, PNG and BMP are opened at all


def test_images_decode_in_the_decoding_pool(monkeypatch):
    threads: list[str] = []
    real = images.decode_images

    def recording(blobs, spec_):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return real(blobs, spec_)

    monkeypatch.setattr("inference.protocols.validation.decode_images", recording)
    image = spec("image", "FP32", 1, 8, 8, 3)
    tensor = RequestTensor("image", "BYTES", (1,), strings=[png(8, 8)])
    arrays = asyncio.run(avalidate_inputs([image], {"image": tensor}, 1))
    assert arrays[0].shape == (1, 8, 8, 3)
    assert threads and threads[0].startswith("request-decoding")
    numbers = RequestTensor("a", "INT32", (1, 2), array=np.array([1, 2], dtype=np.int32))
    asyncio.run(avalidate_inputs([spec("a", "INT32", 1, 2)], {"a": numbers}, 1))  # no image: inline
    assert len(threads) == 1


def test_concurrent_metrics_scrapes_share_one_render(monkeypatch):
    calls: list[float] = []

    def slow_render() -> tuple[bytes, str]:
        calls.append(time.monotonic())
        time.sleep(0.2)
        return b"# metrics\n", "text/plain"

    monkeypatch.setattr(metrics, "render", slow_render)

    async def scrape_many() -> list[handlers.Reply]:
        route = Route(Kind.METRICS)  # /metrics reads no runtime
        return await asyncio.gather(*(handlers.handle(None, "GET", "/metrics", b"", route) for _ in range(8)))  # type: ignore[arg-type]

    replies = asyncio.run(scrape_many())
    assert [reply.status for reply in replies] == [200] * 8 and len(calls) == 1


def test_the_errors_keep_the_protocol_shape():
    assert errors.JSON_TOO_MANY_VALUES("x").body() == b'{"error":"Too many values in the JSON request - x"}'


def test_grpc_strings_are_counted_before_they_are_copied():
    from inference.grpc.kserve import request_tensors
    from inference.grpc.protos import grpc_service_pb2 as pb
    from inference.grpc.protos import tensorflow_core_pb2 as tf
    from inference.grpc.tfs import request_tensor

    request = pb.ModelInferRequest(model_name="echo")
    node = request.inputs.add(name="text", datatype="BYTES", shape=[2])
    node.contents.bytes_contents.extend([b"a", b"b", b"c"])
    with pytest.raises(InferenceError) as refused:
        request_tensors(request)
    assert "Expected: at most 2 values" in refused.value.text
    proto = tf.TensorProto(dtype=tf.DT_STRING)
    proto.tensor_shape.dim.add(size=1)
    proto.string_val.extend([b"x", b"y"])
    with pytest.raises(InferenceError):
        request_tensor("text", proto)
