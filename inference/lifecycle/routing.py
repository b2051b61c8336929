"""WebSocket routes of the lifecycle, included by config/websockets.py."""

from django.urls import path

from inference.lifecycle.consumers import DownloadProgressConsumer

websocket_urlpatterns = [
    path(
        "model/<str:model>/download/progress",
        DownloadProgressConsumer.as_asgi(),
        name="lifecycle-download-progress",
    ),
]
