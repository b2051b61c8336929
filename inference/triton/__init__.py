"""Triton's protocol extensions (statistics, model repository, model configuration, classification,
compression), as transport-independent functions that return plain dicts and arrays: the HTTP glue is in
inference/handlers.py, and the gRPC server maps the same dicts onto its messages."""

from inference.protocols.errors import InferenceError


class TritonError(InferenceError):
    """A failure in Triton's own words ({"error": text} over HTTP); 400 unless said otherwise."""

    status = 400
    message = "Triton extension error"

    def __init__(self, text: str, *, status: int = 400) -> None:
        super().__init__()
        self.status = status
        self._text = text

    @property
    def text(self) -> str:
        return self._text


EXTENSIONS = ["classification", "model_repository", "model_configuration", "statistics"]
