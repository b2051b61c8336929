"""ASGI lifespan: start and stop per-process services (the inference runtime) with the server process."""

import asyncio
import logging

from django.conf import settings
from django.utils.module_loading import import_string

from config.asgi_limits import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)


class LifespanRouter:
    """Runs settings.ASGI_STARTUP_HOOKS / ASGI_SHUTDOWN_HOOKS (dotted paths to callables) on lifespan events."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await _run_hooks(settings.ASGI_STARTUP_HOOKS)
                except Exception as exc:
                    logger.exception("Startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await _run_hooks(settings.ASGI_SHUTDOWN_HOOKS)
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return


async def _run_hooks(paths: list[str]) -> None:
    for path in paths:
        hook = import_string(path)
        result = hook()
        if asyncio.iscoroutine(result):
            await result
