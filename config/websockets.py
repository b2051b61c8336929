"""WebSocket routes of every app, gathered for the Channels URLRouter in config/asgi.py."""

from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import URLPattern, re_path

from deployments.routing import websocket_urlpatterns as deployment_websockets
from inference.lifecycle.routing import websocket_urlpatterns as lifecycle_websockets

CLOSE_NO_ROUTE = 4404


class NoRouteConsumer(AsyncWebsocketConsumer):
    """Any other path: accept, then close with 4404 (URLRouter alone raises, which the server turns into a 500)."""

    access_policy = {
        "CONNECT": "read"
    }  # like the real routes: under MODELHUB_AUTH=all, no probing without a key

    async def connect(self) -> None:
        await self.accept()
        reason = f"No WebSocket route for {self.scope.get('path', '')}"
        await self.close(code=CLOSE_NO_ROUTE, reason=reason.encode()[:120].decode(errors="ignore"))


websocket_urlpatterns: list[URLPattern] = [
    *lifecycle_websockets,
    *deployment_websockets,
    re_path(r"", NoRouteConsumer.as_asgi(), name="websocket-no-route"),
]
