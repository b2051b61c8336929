"""The peer in benchmarks/serving.py: KServe's own Python ModelServer serving an OpenVINO model, given its best
shot (an `async def predict` over an AsyncInferQueue, uvloop, gRPC only with --grpc-port, no access or latency logging, and the
same fix as modelhub's runtime for OpenVINO's callback threads: their Python thread state is kept).

Runs in its own virtualenv (benchmarks/.venv-kserve, made by serving.py) so kserve's many dependencies stay
out of the project's. Usage: kserve_peer.py MODEL_PATH NAME PORT [--nireq N] [--plugin-config '{"PERFORMANCE_HINT": "THROUGHPUT"}']
"""

import argparse
import asyncio
import ctypes
import json
import logging
import threading

import openvino as ov
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer

_callback_thread = threading.local()
_DATATYPES = {"f32": "FP32", "f16": "FP16", "f64": "FP64", "i8": "INT8", "i16": "INT16", "i32": "INT32", "i64": "INT64",
              "u8": "UINT8", "u16": "UINT16", "u32": "UINT32", "u64": "UINT64", "boolean": "BOOL"}  # fmt: skip


class OpenVINOModel(Model):
    def __init__(self, name: str, path: str, nireq: int, plugin_config: dict[str, str]) -> None:
        super().__init__(name)
        self.path = path
        self.nireq = nireq
        self.plugin_config = plugin_config
        self.ready = False

    def load(self) -> bool:
        core = ov.Core()
        model = core.read_model(self.path)
        compiled = core.compile_model(model, "CPU", self.plugin_config)
        self.nireq = self.nireq or compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
        self.queue = ov.AsyncInferQueue(compiled, self.nireq)
        self.queue.set_callback(self._done)
        self.output_names = [port.get_any_name() for port in model.outputs]
        self.output_types = [_DATATYPES[port.get_element_type().get_type_name()] for port in compiled.outputs]
        self.slots: asyncio.Semaphore | None = None
        self.ready = True
        return True

    def _done(self, request: ov.InferRequest, userdata: tuple) -> None:
        if not getattr(_callback_thread, "kept", False):  # the same thread-state fix as modelhub's runtime
            ctypes.pythonapi.PyGILState_Ensure()
            _callback_thread.kept = True
        loop, future = userdata
        outputs = [request.get_output_tensor(i).data.copy() for i in range(len(self.output_names))]
        loop.call_soon_threadsafe(future.set_result, outputs)

    async def predict(
        self, payload: InferRequest, headers: dict | None = None, response_headers: dict | None = None
    ) -> InferResponse:
        loop = asyncio.get_running_loop()
        if self.slots is None:
            self.slots = asyncio.Semaphore(self.nireq)
        inputs = {tensor.name: tensor.as_numpy() for tensor in payload.inputs}
        async with self.slots:
            future = loop.create_future()
            self.queue.start_async(inputs, (loop, future))
            results = await future
        outputs = []
        for name, datatype, array in zip(self.output_names, self.output_types, results, strict=True):
            output = InferOutput(name=name, shape=list(array.shape), datatype=datatype)
            output.set_data_from_numpy(array, binary_data=False)
            outputs.append(output)
        return InferResponse(response_id=payload.id or "", model_name=self.name, infer_outputs=outputs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("name")
    parser.add_argument("port", type=int)
    parser.add_argument("--nireq", type=int, default=0)
    parser.add_argument(
        "--plugin-config", default='{"PERFORMANCE_HINT": "THROUGHPUT"}', help="OpenVINO properties (JSON)"
    )
    parser.add_argument(
        "--grpc-port", type=int, default=0, help="also serve gRPC on this port (benchmarks/serving_grpc.py)"
    )
    options = parser.parse_args([a for a in __import__("sys").argv[1:]])
    model = OpenVINOModel(options.name, options.path, options.nireq, json.loads(options.plugin_config))
    model.load()
    server = ModelServer(
        http_port=options.port, workers=1, enable_latency_logging=False,
        enable_grpc=bool(options.grpc_port), **({"grpc_port": options.grpc_port} if options.grpc_port else {}),
    )  # fmt: skip
    for name in ("uvicorn.access", "kserve.trace"):
        logging.getLogger(name).disabled = True
    server.start([model])


if __name__ == "__main__":
    main()
