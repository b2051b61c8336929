"""The /v3 error contract: `{"error": "<message>"}` with OVMS's status codes and texts."""

import orjson

MODEL_MISSING = (
    "Mediapipe graph definition with requested name is not found"  # OVMS's text for an unknown model
)
MODEL_NOT_LOADED_YET = "Mediapipe is not loaded yet"
MODEL_RETIRED = "Mediapipe is retired"


class V3Error(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def body(self) -> bytes:
        return orjson.dumps({"error": self.message})
