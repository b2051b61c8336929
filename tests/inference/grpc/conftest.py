"""A live server for the gRPC tests: real uvicorn with gRPC on a free port, real models served from the registry."""

from collections.abc import Iterator

import numpy as np
import openvino as ov
import pytest
from openvino import opset13 as ops

from tests.inference.conftest import build_image_model, register, serve
from tests.live import LiveService, live_service
from tests.modelfiles import (
    build_simple_model,
    build_two_io_model,
    ir_zip,
    magika_onnx,
    onnx_zip,
    silero_vad_onnx,
)


def build_string_echo_model() -> ov.Model:
    """Input `text` string [-1] -> the same strings (a BYTES model; the output tensor is the input's, `text`)."""
    text = ops.parameter([-1], ov.Type.string, name="text")
    return ov.Model([ops.result(text)], [text], "echo")


MESSAGE_LIMIT = 4 * 1024**2  # small enough to test cheaply (the default is OVMS's 1 GiB)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    folder = tmp_path_factory.mktemp("grpc-live")
    env = {"MODELHUB_GRPC_MAX_MESSAGE_BYTES": str(MESSAGE_LIMIT)}
    with live_service(folder / "data", with_worker=False, env=env) as service:
        register(service, ir_zip(build_simple_model(), folder), model_id="simple", name="simple")
        register(service, onnx_zip(silero_vad_onnx()), model_id="silero", name="silero")
        register(service, onnx_zip(magika_onnx()), model_id="magika", name="magika")
        register(service, ir_zip(build_two_io_model(), folder), model_id="two-io", name="two-io")
        register(service, ir_zip(build_image_model(), folder), model_id="image", name="image")
        register(service, ir_zip(build_string_echo_model(), folder), model_id="echo", name="echo")
        serve(service, "simple", "silero", "magika", "two-io", "image", "echo")
        yield service


rng = np.random.default_rng(11)


def silero_inputs() -> dict[str, np.ndarray]:
    return {
        "input": rng.standard_normal((1, 576)).astype(np.float32),
        "state": rng.standard_normal((2, 1, 128)).astype(np.float32) * 0.1,
    }


def simple_inputs() -> tuple[np.ndarray, np.ndarray]:
    """The data of Triton's example clients: 0..15 and ones."""
    return np.arange(16, dtype=np.int32).reshape(1, 16), np.ones((1, 16), dtype=np.int32)
