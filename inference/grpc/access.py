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
        metadata = tuple(handler_call_details.invocation_metadata or ())
        handler = await continuation(handler_call_details)
        if (
            handler is None
        ):  # no such method: UNIMPLEMENTED, but under "all" only to a caller with a valid key
            denial = await _unknown_method_denial(metadata)
            return handler if denial is None else _refusing(None, *denial)
        denial = await self._check(handler_call_details.method, metadata)
        if denial is None:
            return handler
        return _refusing(handler, *denial)


async def _unknown_method_denial(metadata: tuple[Any, ...]) -> tuple[grpc.StatusCode, str] | None:
    """Where even reading needs a key, a call to a method that does not exist needs one too, so that an anonymous
    client cannot tell which methods exist (issue 24, as on the lean HTTP path)."""
    if not policy.needs_key(policy.READ) or not policy.needs_key(policy.INFER):
        return None
    authorization = next((value for key, value in metadata if key.lower() == "authorization"), None)
    try:
        principal = await policy.aprincipal_from_authorization(authorization)
    except policy.AccessDenied as exc:
        return grpc.StatusCode[exc.grpc_code], exc.message
    if principal is None:
        return grpc.StatusCode.UNAUTHENTICATED, "Authentication required: send 'authorization: Bearer <key>'."
    return None


def _refusing(
    handler: grpc.RpcMethodHandler | None, code: grpc.StatusCode, text: str
) -> grpc.RpcMethodHandler:
    """A handler that answers `code` without reading the request: request-streaming whatever the method is (the
    client cannot tell), so grpc never asks the transport for the message, and never decompresses or parses it;
    the deserializer is a no-op all the same. A refused 1 GiB message costs a few MB, not its size (issue 24)."""

    async def refuse(requests: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, text)

    async def refuse_stream(requests: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, text)
        yield  # pragma: no cover - makes this an async generator

    if handler is None or handler.response_streaming:  # None: a method that does not exist
        serializer = handler.response_serializer if handler is not None else None
        return grpc.stream_stream_rpc_method_handler(refuse_stream, _unread, serializer)
    return grpc.stream_unary_rpc_method_handler(refuse, _unread, handler.response_serializer)


def _unread(message: bytes) -> None:
    return None
