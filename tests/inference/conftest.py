"""Live servers for the inference tests: real uvicorn processes, real models registered through the registry
API and served with `manage.py serve_model`."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openvino as ov
import orjson
import pytest
import requests
from openvino import opset13 as ops

from tests.live import LiveService, live_service
from tests.modelfiles import (
    build_constant_model,
    build_scores_model,
    build_simple_model,
    build_two_io_model,
    ir_zip,
    magika_onnx,
    onnx_zip,
    silero_vad_onnx,
)


def build_image_model(height: int = 8, width: int = 8) -> ov.Model:
    """Input `image` f32 [1, H, W, 3] (NHWC) -> `mean` f32 [1, 3]: the mean of each channel."""
    image = ops.parameter([1, height, width, 3], np.float32, name="image")
    mean = ops.reduce_mean(image, ops.constant(np.array([1, 2], dtype=np.int64)), keep_dims=False)
    mean.output(0).get_tensor().set_names({"mean"})
    return ov.Model([ops.result(mean)], [image], "channel_mean")


def register(
    service: LiveService,
    archive: bytes,
    *,
    model_id: str,
    name: str,
    version: str = "1",
    labels: list[str] | None = None,
) -> str:
    data = {"id": model_id, "name": name, "version": version}
    if labels is not None:
        data["labels"] = orjson.dumps(labels).decode()
    response = requests.post(
        f"{service.url}/models",
        files={"file": (f"{model_id}.zip", archive, "application/zip")},
        data=data,
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return model_id


def serve(service: LiveService, *model_ids: str, extra: tuple[str, ...] = ()) -> None:
    for model_id in model_ids:
        result = service.manage("serve_model", model_id, "--wait", "--timeout", "120", *extra, check=False)
        assert result.returncode == 0, result.stdout + result.stderr + service.log_tail()


TRITON_LABELS = ["cat", "dog", "bird"]


def triton_repository(service: LiveService, folder: Path) -> None:
    """Triton's examples' repository: seven registry models (as in its model-control example), two of them
    served: `simple` (Triton's example model) and `scores` (a classifier with TRITON_LABELS, for class_count)."""
    register(service, ir_zip(build_simple_model(), folder), model_id="simple", name="simple")
    register(
        service, ir_zip(build_scores_model(), folder), model_id="scores", name="scores", labels=TRITON_LABELS
    )
    for index in range(5):
        register(
            service, ir_zip(build_constant_model(index), folder), model_id=f"c{index}", name=f"const{index}"
        )
    serve(service, "simple", "scores")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """One server process serving magika (one input), silero (two inputs/outputs), IR models and an image model."""
    folder = tmp_path_factory.mktemp("inference-live")
    with live_service(folder / "data", with_worker=False) as service:
        register(service, onnx_zip(magika_onnx()), model_id="magika", name="magika")
        register(service, onnx_zip(silero_vad_onnx()), model_id="silero", name="silero")
        register(service, ir_zip(build_two_io_model(), folder), model_id="two-io", name="two-io")
        register(service, ir_zip(build_image_model(), folder), model_id="image", name="image")
        serve(service, "magika", "silero", "two-io", "image")
        yield service


@pytest.fixture(scope="session")
def openvino_core() -> ov.Core:
    return ov.Core()


def reference(core: ov.Core, model: Path | ov.Model, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs of OpenVINO called directly, by output name."""
    model = model if isinstance(model, ov.Model) else core.read_model(str(model))
    results = core.compile_model(model, "CPU").create_infer_request().infer(inputs)
    return {
        port.get_any_name(): np.array(value)
        for port, value in zip(model.outputs, results.values(), strict=True)
    }


__all__ = ["build_constant_model", "build_image_model", "reference", "register", "serve"]
