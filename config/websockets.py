"""WebSocket routes of every app, gathered for the Channels URLRouter in config/asgi.py."""

from django.urls import URLPattern

from deployments.routing import websocket_urlpatterns as deployment_websockets
from inference.lifecycle.routing import websocket_urlpatterns as lifecycle_websockets

websocket_urlpatterns: list[URLPattern] = [*lifecycle_websockets, *deployment_websockets]
