from django.urls import path

from deployments.consumers import DeploymentEventsConsumer

websocket_urlpatterns = [
    path("deploy/<str:task_id>/events", DeploymentEventsConsumer.as_asgi()),
]
