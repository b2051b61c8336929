"""The bare server in benchmarks/serving.py (`--bare`): the least a Python ASGI server can do for a KServe v2
binary-data request, to show how close modelhub comes to what uvicorn and OpenVINO allow at all.

It reads the body, takes the tensor after the JSON header with `np.frombuffer`, starts an inference on an idle
infer request (the same pool size, compile settings and callback handling as modelhub's runtime), and answers
the model's single output as binary data. No validation, routing, metrics or error handling: any request gets
an inference, so it is good for a benchmark and nothing else. Models with one input and one output only; a dynamic input dimension is taken as 1.

Usage: uvicorn with the app factory, the model path in BARE_MODEL and the plugin config as JSON in BARE_CONFIG:
    BARE_MODEL=model.onnx BARE_CONFIG='{"PERFORMANCE_HINT": "THROUGHPUT"}' \\
        .venv/bin/python -m uvicorn --factory benchmarks.bare_server:create_app --port 9000
"""

import asyncio
import ctypes
import json
import os
import threading
from collections import deque
from typing import Any

import numpy as np
import openvino as ov

_callback_thread = threading.local()
_start_async = ov.InferRequest.__mro__[1].start_async  # the binding, without the Python input dispatcher


def create_app() -> Any:
    compiled = ov.Core().compile_model(
        os.environ["BARE_MODEL"], "CPU", json.loads(os.environ.get("BARE_CONFIG", "{}"))
    )
    if len(compiled.inputs) != 1 or len(compiled.outputs) != 1:
        raise SystemExit("the bare server serves models with one input and one output")
    size = int(
        os.environ.get("BARE_NIREQ") or 2 * int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    )
    requests = [compiled.create_infer_request() for _ in range(size)]
    idle = list(range(size))
    waiting: deque[asyncio.Future[int]] = deque()
    running: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[np.ndarray]]] = {}
    input_type = compiled.inputs[0].get_element_type().to_dtype()
    # A dynamic dimension (a batch) is 1: the benchmark sends batch 1.
    input_shape = [d.get_length() if d.is_static else 1 for d in compiled.inputs[0].get_partial_shape()]
    output_name = compiled.outputs[0].get_any_name()
    answers: dict[tuple[int, ...], tuple[bytes, list[tuple[bytes, bytes]]]] = {}

    def answer_head(shape: tuple[int, ...]) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """The JSON header and HTTP headers of an answer whose output has this shape (made once per shape)."""
        if shape not in answers:
            size = int(np.prod(shape)) * 4
            header = json.dumps(
                {
                    "model_name": "bare",
                    "model_version": "1",
                    "outputs": [
                        {
                            "name": output_name,
                            "datatype": "FP32",
                            "shape": list(shape),
                            "parameters": {"binary_data_size": size},
                        }
                    ],
                },
                separators=(",", ":"),
            ).encode()
            answers[shape] = (
                header,
                [
                    (b"content-type", b"application/octet-stream"),
                    (b"content-length", str(len(header) + size).encode()),
                    (b"inference-header-content-length", str(len(header)).encode()),
                ],
            )
        return answers[shape]

    def done(index: int) -> None:
        if not getattr(_callback_thread, "kept", False):  # as modelhub's runtime: keep the thread state
            ctypes.pythonapi.PyGILState_Ensure()
            _callback_thread.kept = True
        loop, future = running[index]
        loop.call_soon_threadsafe(future.set_result, requests[index].get_output_tensor(0).data.copy())

    for index, request in enumerate(requests):
        request.set_callback(done, index)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        message = await receive()
        body = bytearray(message.get("body", b""))
        while message.get("more_body"):
            message = await receive()
            body += message.get("body", b"")
        offset = next((int(v) for k, v in scope["headers"] if k == b"inference-header-content-length"), 0)
        tensor = np.frombuffer(body, input_type, offset=offset).reshape(input_shape)
        loop = asyncio.get_running_loop()
        if idle:
            index = idle.pop()
        else:
            slot: asyncio.Future[int] = loop.create_future()
            waiting.append(slot)
            index = await slot
        result: asyncio.Future[np.ndarray] = loop.create_future()
        running[index] = (loop, result)
        _start_async(requests[index], {0: ov.Tensor(tensor, shared_memory=True)}, None)
        outputs = await result
        if waiting:
            waiting.popleft().set_result(index)
        else:
            idle.append(index)
        header, headers = answer_head(outputs.shape)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": header + outputs.astype(np.float32, copy=False).tobytes()}
        )

    return app
