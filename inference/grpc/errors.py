"""OVMS's gRPC status codes for the protocol errors (OVMS src/status.cpp, grpcStatusMap): the same texts as
REST, "<message> - <details>", with the gRPC code that matches the HTTP status."""

import grpc

from inference.protocols.errors import InferenceError

_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    406: grpc.StatusCode.UNIMPLEMENTED,
    412: grpc.StatusCode.FAILED_PRECONDITION,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
}


def code_of(error: InferenceError) -> grpc.StatusCode:
    return _CODES.get(error.status, grpc.StatusCode.INTERNAL)
