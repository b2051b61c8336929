"""The access policy on gRPC: every call goes through `access.policy.aauthorize_grpc(method, metadata)` (issue 13)
before its handler runs; the key travels in the `authorization` metadata (`Bearer <key>`). The policy raises
`AccessDenied` (its `grpc_code` names the status, its `message` is the text) to refuse.
"""

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from access import policy


class AccessInterceptor(grpc.aio.ServerInterceptor):
    async def _check(self, method: str, metadata: tuple[Any, ...]) -> tuple[grpc.StatusCode, str] | None:
        """As the lean HTTP path: a cached key costs no thread hop, an uncached one one database lookup in
        Django's thread for synchronous code; anonymous until a key says otherwise (audit)."""
        policy.current_principal.set(policy.ANONYMOUS)
        try:
            await policy.aauthorize_grpc(method, metadata)
        except policy.AccessDenied as exc:
            return grpc.StatusCode[exc.grpc_code], exc.message
        return None

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        denial = await self._check(
            handler_call_details.method, tuple(handler_call_details.invocation_metadata or ())
        )
        handler = await continuation(handler_call_details)
        if denial is None or handler is None:
            return handler
        return _refusing(handler, *denial)


def _refusing(handler: grpc.RpcMethodHandler, code: grpc.StatusCode, text: str) -> grpc.RpcMethodHandler:
    """A handler that answers `code` without reading the request: request-streaming whatever the method is (the
    client cannot tell), so grpc never asks the transport for the message, and never decompresses or parses it;
    the deserializer is a no-op all the same. A refused 1 GiB message costs a few MB, not its size (issue 24)."""

    async def refuse(requests: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, text)

    async def refuse_stream(requests: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, text)
        yield  # pragma: no cover - makes this an async generator

    if handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse_stream, _unread, handler.response_serializer)
    return grpc.stream_unary_rpc_method_handler(refuse, _unread, handler.response_serializer)


def _unread(message: bytes) -> None:
    return None
