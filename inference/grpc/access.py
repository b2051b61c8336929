"""The access policy on gRPC: every call goes through `access.policy.authorize_grpc(method, metadata)` (issue 13)
before its handler runs; the key travels in the `authorization` metadata (`Bearer <key>`).

Written against the documented signature while the `access` app is on another branch: the function may be
sync (run in a worker thread, it may query the database) or async; it allows by returning None and refuses by
raising an exception (its `status` 401/403, or a `grpc_code`, and its text) or by returning (grpc code, text).
"""

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

_CODE_OF_STATUS = {401: grpc.StatusCode.UNAUTHENTICATED, 403: grpc.StatusCode.PERMISSION_DENIED}


def _denial(exc: Exception) -> tuple[grpc.StatusCode, str]:
    code = getattr(exc, "grpc_code", None) or _CODE_OF_STATUS.get(
        getattr(exc, "status", None) or getattr(exc, "status_code", 0), grpc.StatusCode.PERMISSION_DENIED
    )
    return code, str(exc) or "Permission denied"


class AccessInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self) -> None:
        from access.policy import authorize_grpc

        self.authorize: Callable[..., Any] = authorize_grpc

    async def _check(self, method: str, metadata: tuple[Any, ...]) -> tuple[grpc.StatusCode, str] | None:
        try:
            if inspect.iscoroutinefunction(self.authorize):
                result = await self.authorize(method, metadata)
            else:
                result = await asyncio.to_thread(self.authorize, method, metadata)
        except Exception as exc:  # noqa: BLE001 - a refusal
            return _denial(exc)
        return result or None

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
    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, text)

    async def refuse_stream(requests: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, text)
        yield  # pragma: no cover - makes this an async generator

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(
            refuse_stream, handler.request_deserializer, handler.response_serializer
        )
    return grpc.unary_unary_rpc_method_handler(
        refuse, handler.request_deserializer, handler.response_serializer
    )
