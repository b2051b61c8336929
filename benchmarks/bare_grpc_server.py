"""The bare gRPC server of benchmarks/serving_grpc.py: the least grpcio's asyncio server can do for a KServe v2
`ModelInfer` with `raw_input_contents`, to show how close modelhub's gRPC endpoint comes to what grpcio and
OpenVINO allow at all (benchmarks/bare_server.py is the same for HTTP under uvicorn).

Each input is taken from `raw_input_contents` in the order of the compiled model's inputs with
`np.frombuffer` and the shape the request gives, the inference runs on an idle infer request of a `BarePool`, and
every output goes back as `raw_output_contents`. The server has the options modelhub's has (SO_REUSEPORT, message
limits) and runs on uvloop, as modelhub's does. No validation, routing, metrics or error handling.

Usage: BARE_MODEL=model.onnx BARE_NIREQ=4 BARE_CONFIG='{}' .venv/bin/python benchmarks/bare_grpc_server.py PORT
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402
import numpy as np  # noqa: E402
import openvino as ov  # noqa: E402
import uvloop  # noqa: E402

from benchmarks.bare_server import BarePool  # noqa: E402
from inference.grpc import KSERVE_SERVICE  # noqa: E402
from inference.grpc.protos import grpc_service_pb2 as pb  # noqa: E402
from inference.protocols.tensors import BY_KSERVE  # noqa: E402

LIMIT = 1024 * 1024 * 1024


async def serve(port: int) -> None:
    pool = BarePool()
    inputs = [port.get_any_name() for port in pool.compiled.inputs]
    outputs = [port.get_any_name() for port in pool.compiled.outputs]
    kserve_name = {np.dtype(d.numpy): d.kserve for d in reversed(BY_KSERVE.values()) if d.numpy is not None}

    async def model_infer(
        request: pb.ModelInferRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInferResponse:
        order = {node.name: index for index, node in enumerate(request.inputs)}
        tensors = {}
        for position, name in enumerate(inputs):
            node = request.inputs[order[name]]
            # protobuf's bytes are read-only and OpenVINO shares only writeable memory: one copy, as modelhub
            array = np.frombuffer(
                request.raw_input_contents[order[name]], BY_KSERVE[node.datatype].numpy
            ).copy()
            tensors[position] = ov.Tensor(array.reshape(tuple(node.shape)), shared_memory=True)
        results = await pool.infer(tensors)
        response = pb.ModelInferResponse(model_name=request.model_name, model_version="1", id=request.id)
        for name, array in zip(outputs, results, strict=True):
            response.outputs.add(name=name, datatype=kserve_name[array.dtype], shape=array.shape)
            response.raw_output_contents.append(array.tobytes())
        return response

    server = grpc.aio.server(
        options=[
            ("grpc.so_reuseport", 1),
            ("grpc.max_receive_message_length", LIMIT),
            ("grpc.max_send_message_length", LIMIT),
        ]
    )
    handler = grpc.unary_unary_rpc_method_handler(
        model_infer,
        request_deserializer=pb.ModelInferRequest.FromString,
        response_serializer=pb.ModelInferResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(KSERVE_SERVICE, {"ModelInfer": handler})]
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1])))
