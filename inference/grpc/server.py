"""The gRPC endpoint: KServe v2 and TF Serving services on the serving runtime of this server process.

Every server process (WEB_CONCURRENCY) starts one from the ASGI lifespan, on its own event loop, and binds
GRPC_HOST:GRPC_PORT with SO_REUSEPORT (grpc's default on Linux), so the kernel spreads connections over the
processes as it spreads HTTP connections; each process answers from its own compiled models.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from django.conf import settings

from access import policy
from inference.grpc import KSERVE_SERVICE, MODEL_SERVICE, PREDICTION_SERVICE
from inference.grpc.access import AccessInterceptor
from inference.grpc.kserve import KServeService
from inference.grpc.protos import grpc_service_pb2 as kserve_pb
from inference.grpc.protos import tensorflow_serving_pb2 as tfs_pb
from inference.grpc.tfs import TFSService
from inference.runtime import Runtime, get_runtime

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Method:
    service: str
    name: str
    request: Any  # message class
    response: Any
    streaming: bool = False

    @property
    def full_name(self) -> str:
        return f"/{self.service}/{self.name}"


METHODS = [
    Method(KSERVE_SERVICE, "ServerLive", kserve_pb.ServerLiveRequest, kserve_pb.ServerLiveResponse),
    Method(KSERVE_SERVICE, "ServerReady", kserve_pb.ServerReadyRequest, kserve_pb.ServerReadyResponse),
    Method(KSERVE_SERVICE, "ServerMetadata", kserve_pb.ServerMetadataRequest, kserve_pb.ServerMetadataResponse),
    Method(KSERVE_SERVICE, "ModelReady", kserve_pb.ModelReadyRequest, kserve_pb.ModelReadyResponse),
    Method(KSERVE_SERVICE, "ModelMetadata", kserve_pb.ModelMetadataRequest, kserve_pb.ModelMetadataResponse),
    Method(KSERVE_SERVICE, "ModelInfer", kserve_pb.ModelInferRequest, kserve_pb.ModelInferResponse),
    Method(KSERVE_SERVICE, "ModelStreamInfer", kserve_pb.ModelInferRequest, kserve_pb.ModelStreamInferResponse, True),
    Method(KSERVE_SERVICE, "ModelStatistics", kserve_pb.ModelStatisticsRequest, kserve_pb.ModelStatisticsResponse),
    Method(KSERVE_SERVICE, "ModelConfig", kserve_pb.ModelConfigRequest, kserve_pb.ModelConfigResponse),
    Method(KSERVE_SERVICE, "RepositoryIndex", kserve_pb.RepositoryIndexRequest, kserve_pb.RepositoryIndexResponse),
    Method(KSERVE_SERVICE, "RepositoryModelLoad", kserve_pb.RepositoryModelLoadRequest,
           kserve_pb.RepositoryModelLoadResponse),
    Method(KSERVE_SERVICE, "RepositoryModelUnload", kserve_pb.RepositoryModelUnloadRequest,
           kserve_pb.RepositoryModelUnloadResponse),
    Method(PREDICTION_SERVICE, "Predict", tfs_pb.PredictRequest, tfs_pb.PredictResponse),
    Method(PREDICTION_SERVICE, "GetModelMetadata", tfs_pb.GetModelMetadataRequest, tfs_pb.GetModelMetadataResponse),
    Method(MODEL_SERVICE, "GetModelStatus", tfs_pb.GetModelStatusRequest, tfs_pb.GetModelStatusResponse),
]  # fmt: skip


def generic_handlers(runtime: Runtime) -> list[grpc.GenericRpcHandler]:
    implementations: dict[str, Any] = {
        KSERVE_SERVICE: KServeService(runtime),
        PREDICTION_SERVICE: TFSService(runtime),
        MODEL_SERVICE: TFSService(runtime),
    }
    by_service: dict[str, dict[str, grpc.RpcMethodHandler]] = {}
    for method in METHODS:
        function: Callable[..., Any] = getattr(implementations[method.service], method.name)
        make = (
            grpc.stream_stream_rpc_method_handler if method.streaming else grpc.unary_unary_rpc_method_handler
        )
        by_service.setdefault(method.service, {})[method.name] = make(
            function,
            request_deserializer=method.request.FromString,
            response_serializer=method.response.SerializeToString,
        )
    return [
        grpc.method_handlers_generic_handler(service, handlers) for service, handlers in by_service.items()
    ]


def interceptors() -> list[grpc.aio.ServerInterceptor]:
    """The access policy's interceptor, unless MODELHUB_AUTH is off (then every method with a scope is allowed,
    and test_every_method_has_an_access_scope keeps that true)."""
    if policy.mode() == policy.OFF:
        return []
    return [AccessInterceptor()]


# grpc-core's compression algorithm bits: 1 = identity only (compressed requests answer UNIMPLEMENTED before
# anything is decompressed), 7 = identity, deflate and gzip (grpc's default).
_IDENTITY_ONLY = 1
_ALL_ALGORITHMS = 7


def server_options() -> list[tuple[str, int]]:
    """Message limits and request compression (issue 20 finding 4, issue 24 point 7): compressed requests are
    refused unless MODELHUB_GRPC_REQUEST_COMPRESSION is on; then the receive limit, which grpc applies after
    decompression, is lowered to MODELHUB_GRPC_MAX_DECOMPRESSED_BYTES (grpc has one receive limit for both)."""
    send_limit = receive_limit = settings.GRPC_MAX_MESSAGE_BYTES
    algorithms = _IDENTITY_ONLY
    if settings.GRPC_REQUEST_COMPRESSION:
        receive_limit = min(receive_limit, settings.GRPC_MAX_DECOMPRESSED_BYTES)
        algorithms = _ALL_ALGORITHMS
    return [
        ("grpc.so_reuseport", 1),
        ("grpc.max_receive_message_length", receive_limit),
        ("grpc.max_send_message_length", send_limit),
        ("grpc.compression_enabled_algorithms_bitset", algorithms),
    ]


def build_server(runtime: Runtime, address: str) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server(interceptors=interceptors(), options=server_options())
    server.add_generic_rpc_handlers(generic_handlers(runtime))
    port = server.add_insecure_port(address)
    return server, port


_server: grpc.aio.Server | None = None


async def startup() -> None:
    """ASGI lifespan startup hook (settings.ASGI_STARTUP_HOOKS), after the runtime's."""
    global _server
    if not settings.GRPC_PORT:
        return
    address = f"{settings.GRPC_HOST}:{settings.GRPC_PORT}"
    server, port = build_server(get_runtime(), address)
    if not port:
        raise RuntimeError(f"gRPC could not listen on {address}")
    await server.start()
    _server = server
    logger.info("gRPC listening on %s", address)


async def shutdown() -> None:
    global _server
    if _server is not None:
        server, _server = _server, None
        await server.stop(grace=5)
