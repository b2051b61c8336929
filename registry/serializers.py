"""Input validation for the registry API: the same rules for multipart forms and JSON bodies."""

import math
from datetime import UTC, datetime
from typing import Any

import orjson
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.parsers import check_json_depth
from registry.models import MODEL_ID_PATTERN, SUPPORTED_PRECISIONS, ModelTask

# DRF formats error messages with str.format: the pattern's {0,127} must be escaped or it is a KeyError (500).
ID_PATTERN_MESSAGE = f"The id must match {MODEL_ID_PATTERN}.".replace("{", "{{").replace("}", "}}")


def _parse_json_text(value: str) -> Any:
    try:
        parsed = orjson.loads(value)
        check_json_depth(parsed)
    except ValueError as exc:  # orjson.JSONDecodeError is one, and so is check_json_depth's
        raise serializers.ValidationError(f"Invalid JSON: {exc}.") from None
    return parsed


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, str):
        return f"the string {_excerpt(value)}"
    if isinstance(value, bool) or value is None:
        return f"{orjson.dumps(value).decode()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    return "a value of another kind"


def _excerpt(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:39] + "…")


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string", "enum": list(SUPPORTED_PRECISIONS)}},
        ],
        "example": "FP16",
    }
)
class PrecisionField(serializers.Field):
    """FP32/FP16/INT8/INT4, case-insensitive: one value, a comma list, or a JSON list. Stored canonical."""

    default_error_messages = {
        "invalid": "Precision must be a string or a list of strings.",
        "empty": "Precision must not be empty.",
    }

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, str):
            text = data.strip()
            data = _parse_json_text(text) if text.startswith("[") else text.split(",")
        if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
            self.fail("invalid")
        values = [item.strip().upper() for item in data if item.strip()]
        if not values:
            self.fail("empty")
        unsupported = [value for value in values if value not in SUPPORTED_PRECISIONS]
        if unsupported:
            raise serializers.ValidationError(
                f"{', '.join(unsupported)} is not a supported precision. Supported: {', '.join(SUPPORTED_PRECISIONS)}."
            )
        return ",".join(sorted(set(values), key=SUPPORTED_PRECISIONS.index))

    def to_representation(self, value: str) -> list[str]:
        return [item for item in value.split(",") if item]


@extend_schema_field(
    {
        "oneOf": [{"type": "string", "description": "JSON text of a list"}, {"type": "array", "items": {}}],
        "example": '["cat", "dog"]',
    }
)
class JSONListField(serializers.Field):
    """A list, given as JSON text in forms or as a JSON array in JSON bodies."""

    EXPECTED = 'Must be a JSON list, e.g. ["cat", "dog"]'

    def to_internal_value(self, data: Any) -> list[Any]:
        if isinstance(data, str):
            text = data.strip()
            if not text:
                return []
            try:
                data = orjson.loads(text)
            except orjson.JSONDecodeError:
                # A form sends JSON text; plain words are a common slip, and the parser's position is no help.
                raise serializers.ValidationError(
                    f"{self.EXPECTED}; got plain text {_excerpt(text)}."
                ) from None
        if not isinstance(data, list):
            raise serializers.ValidationError(f"{self.EXPECTED}; got {_json_kind(data)}.")
        return data

    def to_representation(self, value: list[Any]) -> list[Any]:
        return value


@extend_schema_field(
    {
        "oneOf": [{"type": "string"}, {"type": "object", "additionalProperties": True}],
        "example": '{"description": "What the model does"}',
    }
)
class JSONObjectOrTextField(serializers.Field):
    """A JSON object, or plain text. Text that looks like JSON (starts with { or [) must parse."""

    def to_internal_value(self, data: Any) -> dict[str, Any] | str:
        if isinstance(data, dict):
            return data
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be a JSON object or text.")
        text = data.strip()
        if text.startswith(("{", "[")):
            parsed = _parse_json_text(text)
            if not isinstance(parsed, dict):
                raise serializers.ValidationError("Must be a JSON object or text, not a JSON list.")
            return parsed
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class FiniteFloatField(serializers.FloatField):
    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            raise serializers.ValidationError("A finite number is required.")
        return value


class RegistryDateTimeField(serializers.DateTimeField):
    """ISO 8601 or the spec's example form `2024-02-28 15:39:07.054000`; naive values are UTC."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            input_formats=["iso-8601", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"], **kwargs
        )

    def enforce_timezone(self, value: datetime) -> datetime:
        if timezone.is_naive(value):
            return timezone.make_aware(value, UTC)
        return value


def _text(max_length: int = 255, **kwargs: Any) -> serializers.CharField:
    return serializers.CharField(max_length=max_length, allow_blank=True, trim_whitespace=True, **kwargs)


class ModelFieldsSerializer(serializers.Serializer):
    """Every metadata field a client may send to POST or PUT /models (the file is handled separately)."""

    id = serializers.RegexField(
        MODEL_ID_PATTERN,
        max_length=128,
        error_messages={"invalid": ID_PATTERN_MESSAGE},
    )
    name = serializers.CharField(max_length=255)
    version = serializers.CharField(max_length=64)
    precision = PrecisionField()
    target_device = _text()
    target_device_type = _text()
    format = _text(64)
    origin = _text()
    project_id = _text()
    project_name = _text()
    category = _text()
    architecture = _text()
    score = FiniteFloatField(allow_null=True)
    created_date = RegistryDateTimeField()
    size = serializers.IntegerField(
        min_value=0, help_text="Ignored: the size is measured from the stored file."
    )
    overview = JSONObjectOrTextField()
    optimization_capabilities = JSONObjectOrTextField()
    labels = JSONListField()
    source_url = serializers.URLField(max_length=2048)
    sha256 = serializers.RegexField(
        r"^[0-9a-fA-F]{64}$", error_messages={"invalid": "The sha256 must be 64 hexadecimal digits."}
    )
    artifact_only = serializers.BooleanField(
        help_text=(
            "The ZIP is a plain artifact without a model file: store it, never serve it. Without it, a ZIP "
            "that holds no OpenVINO IR (.xml+.bin), .onnx, .tflite or Paddle (.pdmodel) file is refused (422). "
            "Set at registration only."
        )
    )

    task = serializers.ChoiceField(
        choices=ModelTask.choices,
        allow_blank=True,
        help_text=(
            "How the model is served: empty for a tensor model (TFS, KServe v2), text-generation, embeddings or "
            "rerank for an openvino-genai folder (OpenAI-compatible /v3). Recognised from the ZIP when not given."
        ),
        error_messages={
            "invalid_choice": "Unknown task {input}: use one of '', text-generation, embeddings, rerank."
        },
    )

    ACCEPTED_KEYS = frozenset(
        {
            "id", "name", "version", "precision", "target_device", "target_device_type", "format", "origin",
            "project_id", "project_name", "category", "architecture", "score", "created_date", "size",
            "overview", "optimization_capabilities", "labels", "source_url", "sha256", "file", "artifact_only",
            "task",
        }
    )  # fmt: skip


class SignaturePortSerializer(serializers.Serializer):
    name = serializers.CharField()
    names = serializers.ListField(child=serializers.CharField(), help_text="Every tensor name of the port.")
    shape = serializers.ListField(
        child=serializers.IntegerField(),
        allow_null=True,
        help_text="-1 for a dynamic dimension; null for a dynamic rank.",
    )
    partial_shape = serializers.CharField(
        help_text='OpenVINO\'s text of the shape, with bounds, e.g. "[?,3,1..224,224]".'
    )
    element_type = serializers.CharField(help_text="OpenVINO element type, e.g. f32, i64, u8.")


class PipelineSerializer(serializers.Serializer):
    inputs = serializers.CharField(help_text='What the pipeline takes: "text" or "query and documents".')
    outputs = serializers.CharField(help_text='What it gives: "text", "vectors" or "scores".')
    chat_template = serializers.BooleanField(
        help_text="The model's chat template is applied to chat messages."
    )


class SignatureSerializer(serializers.Serializer):
    format = serializers.CharField()
    inputs = SignaturePortSerializer(many=True)
    outputs = SignaturePortSerializer(many=True)
    task = serializers.CharField(
        required=False, help_text="Generative and embedding models only: the model's task (as `task`)."
    )
    pipeline = PipelineSerializer(
        required=False,
        help_text=(
            "Generative and embedding models only: the openvino-genai pipeline the model is served through on "
            "/v3. `inputs`/`outputs` above are then the ports of the model inside it (openvino_model.xml)."
        ),
    )


class ModelOutSerializer(serializers.Serializer):
    """The registered model as GET /models returns it (documentation of `registry.selectors.model_to_dict`)."""

    id = serializers.CharField()
    name = serializers.CharField()
    target_device = serializers.CharField()
    created_date = serializers.CharField()
    last_updated_date = serializers.CharField()
    precision = serializers.ListField(child=serializers.CharField())
    size = serializers.IntegerField()
    version = serializers.CharField()
    format = serializers.CharField()
    origin = serializers.CharField()
    file_url = serializers.CharField(allow_null=True)
    project_id = serializers.CharField()
    project_name = serializers.CharField()
    category = serializers.CharField()
    target_device_type = serializers.CharField()
    score = serializers.FloatField(allow_null=True)
    overview = serializers.JSONField(allow_null=True)
    optimization_capabilities = serializers.JSONField(allow_null=True)
    labels = serializers.ListField(child=serializers.JSONField())
    architecture = serializers.CharField()
    detected_format = serializers.CharField(
        help_text="Model format found inside the ZIP: openvino, onnx, tflite, paddle or unknown."
    )
    task = serializers.CharField(
        help_text="Empty for a tensor model (TFS, KServe v2); text-generation, embeddings or rerank (/v3)."
    )
    sha256 = serializers.CharField(help_text="SHA-256 of the stored ZIP.")
    source_url = serializers.CharField(
        help_text="Where the artifact is fetched from, for models registered by URL."
    )
    signature = serializers.SerializerMethodField()

    @extend_schema_field(SignatureSerializer(allow_null=True))
    def get_signature(self, obj: Any) -> Any:
        """Inputs and outputs read with OpenVINO at registration; null when the files cannot be read."""
        return obj.get("signature")

    artifact_only = serializers.BooleanField(
        help_text="Registered as a plain artifact (no model file): stored, never served."
    )
