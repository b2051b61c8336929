"""WebSocket routes of every app, gathered for the Channels URLRouter in config/asgi.py."""

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
