"""The bare servers of the serving benchmarks: the least a Python server can do for one inference request, to
show how close modelhub comes to what the transport and OpenVINO allow at all.

- `create_app` (benchmarks/serving.py `--bare`): an ASGI app for a KServe v2 binary-data request under uvicorn.
  It reads the body, takes the tensor after the JSON header with `np.frombuffer`, and answers the model's
  single output as binary data. Models with one input and one output only; a dynamic dimension is taken as 1.
- `benchmarks/bare_grpc_server.py` (benchmarks/serving_grpc.py): the same for a gRPC `ModelInfer` with
  `raw_input_contents`, on grpcio's asyncio server.

Both start the inference on an idle infer request of a `BarePool` (the same pool size, compile settings and
callback handling as modelhub's runtime). No validation, routing, metrics or error handling: any request gets an
inference, so they are good for a benchmark and nothing else.

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


class BarePool:
    """The compiled model (BARE_MODEL, BARE_CONFIG) and BARE_NIREQ infer requests, each used by one request at a
    time; `infer` answers every output, copied out of the infer request."""

    def __init__(self) -> None:
        self.compiled = ov.Core().compile_model(
            os.environ["BARE_MODEL"], "CPU", json.loads(os.environ.get("BARE_CONFIG", "{}"))
        )
        size = int(
            os.environ.get("BARE_NIREQ")
            or 2 * int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        )
        self.requests = [self.compiled.create_infer_request() for _ in range(size)]
        self.idle = list(range(size))
        self.waiting: deque[asyncio.Future[int]] = deque()
        self.running: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[list[np.ndarray]]]] = {}
        self.outputs = len(self.compiled.outputs)
        for index, request in enumerate(self.requests):
            request.set_callback(self._done, index)

    def _done(self, index: int) -> None:
        if not getattr(_callback_thread, "kept", False):  # as modelhub's runtime: keep the thread state
            ctypes.pythonapi.PyGILState_Ensure()
            _callback_thread.kept = True
        loop, _ = self.running[index]
        request = self.requests[index]
        results = [request.get_output_tensor(i).data.copy() for i in range(self.outputs)]
        loop.call_soon_threadsafe(self._settle, index, results)

    def _settle(self, index: int, results: list[np.ndarray]) -> None:
        """On the event loop: answer the request (unless its client went away) and pass the infer request on."""
        _, future = self.running.pop(index)
        if not future.done():
            future.set_result(results)
        self._release(index)

    def _release(self, index: int) -> None:
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(index)
                return
        self.idle.append(index)

    async def infer(self, tensors: dict[int, ov.Tensor]) -> list[np.ndarray]:
        loop = asyncio.get_running_loop()
        if self.idle:
            index = self.idle.pop()
        else:
            slot: asyncio.Future[int] = loop.create_future()
            self.waiting.append(slot)
            try:
                index = await slot
            except asyncio.CancelledError:  # the client went away: pass on a request handed over meanwhile
                if slot.done() and not slot.cancelled():
                    self._release(slot.result())
                raise
        result: asyncio.Future[list[np.ndarray]] = loop.create_future()
        self.running[index] = (loop, result)
        _start_async(self.requests[index], tensors, None)
        return await result


def create_app() -> Any:
    pool = BarePool()
    compiled = pool.compiled
    if len(compiled.inputs) != 1 or len(compiled.outputs) != 1:
        raise SystemExit("the bare server serves models with one input and one output")
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
        (outputs,) = await pool.infer({0: ov.Tensor(tensor, shared_memory=True)})
        header, headers = answer_head(outputs.shape)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": header + outputs.astype(np.float32, copy=False).tobytes()}
        )

    return app
