"""ASGI entry point: body limits, then HTTP (inference fast path, else Django) and WebSocket (Channels).

The inference protocols (/v1, /v2, /metrics, and the OpenAI-compatible /v3) are answered by a lean ASGI handler before Django's request
stack (DESIGN.md section 5); everything else is ordinary Django/DRF.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

# Imports that touch models or consumers come after Django is set up.
from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from access.asgi_gate import AccessBeforeBody  # noqa: E402
from access.websockets import websocket_application  # noqa: E402
from config.asgi_limits import LimitRequestBody  # noqa: E402
from config.lifespan import LifespanRouter  # noqa: E402
from config.websockets import websocket_urlpatterns  # noqa: E402
from inference.asgi import InferenceRouter  # noqa: E402
from inference.v3.asgi import OpenAIRouter  # noqa: E402
from registry.streaming import StreamedModelUpload  # noqa: E402


def body_limit_for(path: str) -> tuple[int, str]:
    if path.startswith(("/v1/", "/v2/")):
        return settings.INFERENCE_MAX_REQUEST_BYTES, "error"
    if path.startswith("/v3/"):
        return settings.GENAI_MAX_REQUEST_BYTES, "error"
    if path == "/models":  # only POST /models carries a ZIP; PUT /models/{id} is a small form
        return settings.REGISTRY_MAX_UPLOAD_BYTES, "detail"
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE, "detail"


application = LifespanRouter(
    LimitRequestBody(
        ProtocolTypeRouter(
            {
                "http": OpenAIRouter(InferenceRouter(AccessBeforeBody(StreamedModelUpload(django_asgi_app)))),
                "websocket": websocket_application(websocket_urlpatterns),
            }
        ),
        body_limit_for,
    )
)
