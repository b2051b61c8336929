"""OVMS error texts and the HTTP status each one maps to (OVMS 2026.2 src/status.cpp and its REST status map).

Every failure on the inference protocols is an `InferenceError`; it renders as {"error": "<message>"} or
{"error": "<message> - <details>"}, exactly as OVMS does.
"""

from typing import Final

import orjson


class InferenceError(Exception):
    """A protocol failure: HTTP status, OVMS message and optional details. Each OVMS status below is a subclass,
    so `raise errors.X` raises a fresh exception (a shared instance would keep the last request's traceback)."""

    status = 500
    message = "Internal server error"

    def __init__(self, details: str = "") -> None:
        super().__init__(self.message)
        self.details = details

    @classmethod
    def with_details(cls, details: str) -> "InferenceError":
        return cls(details)

    @property
    def text(self) -> str:
        return f"{self.message} - {self.details}" if self.details else self.message

    def body(self) -> bytes:
        return orjson.dumps({"error": self.text})

    def __repr__(self) -> str:
        return f"InferenceError({self.status}, {self.text!r})"


def _error(status: int, message: str) -> type[InferenceError]:
    return type("InferenceError", (InferenceError,), {"status": status, "message": message})


# Routing
INVALID_URL: Final = _error(400, "Invalid request URL")
UNSUPPORTED_METHOD: Final = _error(406, "Unsupported method")
REST_NOT_FOUND: Final = _error(404, "Requested REST resource not found")

# Model lookup
MODEL_NAME_MISSING: Final = _error(404, "Model with requested name is not found")
MODEL_VERSION_MISSING: Final = _error(404, "Model with requested version is not found")
MODEL_VERSION_NOT_LOADED_YET: Final = _error(404, "Model with requested version is not loaded yet")
MODEL_VERSION_NOT_LOADED_ANYMORE: Final = _error(404, "Model with requested version is retired")
SERVER_NOT_READY: Final = _error(503, "Server is not ready")

# JSON body
JSON_INVALID: Final = _error(412, "The file is not valid json")
BODY_NOT_OBJECT: Final = _error(400, "Request body should be JSON object")
# Not OVMS's: the value count of a JSON body is checked before it is parsed (inference/protocols/limits.py).
JSON_TOO_MANY_VALUES: Final = _error(413, "Too many values in the JSON request")
JSON_TOO_LARGE: Final = _error(413, "JSON request too large")

# TFS parser
PREDICT_UNKNOWN_ORDER: Final = _error(400, "Invalid JSON structure. Could not detect row or column format")
INSTANCES_NOT_AN_ARRAY: Final = _error(400, "Invalid JSON structure. Nonamed instance is not an array.")
NAMED_INSTANCE_NOT_AN_OBJECT: Final = _error(
    400, "Invalid JSON structure. One of named instances is not a JSON object."
)
INPUT_NOT_PREALLOCATED: Final = _error(500, "Internal allocation error")
NO_INSTANCES_FOUND: Final = _error(400, "Invalid JSON structure. Missing instances in row format")
INSTANCES_NOT_NAMED_OR_NONAMED: Final = _error(400, "Could not detect neither named or nonamed format")
COULD_NOT_PARSE_INSTANCE: Final = _error(400, "Could not parse instance content. Not valid ndarray detected")
INSTANCES_BATCH_SIZE_DIFFER: Final = _error(
    400, "Invalid JSON structure. Request inputs have different batch sizes"
)
INPUTS_NOT_AN_OBJECT: Final = _error(400, "Invalid JSON structure. One of inputs is not a JSON object.")
NO_INPUTS_FOUND: Final = _error(400, "Invalid JSON structure, missing inputs")
COULD_NOT_PARSE_INPUT: Final = _error(400, "Could not parse input content. Not valid ndarray detected")
COULD_NOT_PARSE_OUTPUT: Final = _error(400, "Could not parse output content.")
COULD_NOT_PARSE_PARAMETERS: Final = _error(400, "Could not parse request parameters")
UNSUPPORTED_PRECISION: Final = _error(
    400, "Could not parse input content. Unsupported data precision detected"
)
BASE64_DECODE_ERROR: Final = _error(400, "Decode Base64 to string error")
PROTO_TO_STRING_ERROR: Final = _error(500, "Response parsing to JSON error")

# KServe binary data extension
BINARY_DATA_SIZE_INVALID: Final = _error(400, "binary_data_size parameter is invalid and cannot be parsed")
BINARY_BUFFER_EXCEEDED: Final = _error(
    400, "Received buffer size is smaller than binary_data_size parameter indicates"
)
HEADER_CONTENT_LENGTH_INVALID: Final = _error(
    400, "Inference-Header-Content-Length header is invalid and couldn't be parsed"
)
HEADER_CONTENT_LENGTH_EXCEEDED: Final = _error(400, "Inference header content length exceeded JSON size")
CONTENTS_FIELD_NOT_EMPTY: Final = _error(
    400, "Request contains values both in binary data and in content value"
)

# Request validation
INVALID_NO_OF_INPUTS: Final = _error(400, "Invalid number of inputs")
INVALID_MISSING_INPUT: Final = _error(400, "Missing input with specific name")
INVALID_MISSING_OUTPUT: Final = _error(400, "Missing output with specific name")
INVALID_NO_OF_SHAPE_DIMENSIONS: Final = _error(400, "Invalid number of shape dimensions")
INVALID_BATCH_SIZE: Final = _error(400, "Invalid input batch size")
INVALID_SHAPE: Final = _error(400, "Invalid input shape")
INVALID_PRECISION: Final = _error(400, "Invalid input precision")
INVALID_VALUE_COUNT: Final = _error(400, "Invalid number of values in tensor proto container")
INVALID_CONTENT_SIZE: Final = _error(400, "Invalid content size of tensor proto")
INVALID_STRING_INPUT: Final = _error(400, "Invalid string input")

# Binary (image) inputs
IMAGE_PARSING_FAILED: Final = _error(400, "Image parsing failed")
INVALID_NO_OF_CHANNELS: Final = _error(400, "Invalid number of channels in binary input")
BINARY_IMAGES_RESOLUTION_MISMATCH: Final = _error(
    400, "Binary input images for this endpoint are required to have the same resolution"
)

# Inference and serialization
INTERNAL_INFERENCE_ERROR: Final = _error(500, "Internal inference error")
INTERNAL_ERROR: Final = _error(500, "Internal server error")

# Config reload / status (texts of the TFS config API)
CONFIG_FILE_INVALID: Final = _error(500, "Config file not found or cannot open.")
CONFIG_RELOAD_FAILED: Final = _error(412, "Reloading config file failed. Check server logs for more info.")
MODELS_RELOAD_FAILED: Final = _error(
    500, "Reloading models versions failed. Check server logs for more info."
)
