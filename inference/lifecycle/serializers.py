"""Shapes of the lifecycle API: the spec's Model object, download progress frames, and the update body."""

from typing import Any

from rest_framework import serializers

from inference.lifecycle.models import DownloadPhase, DownloadStatus, ModelType, ModelUsage
from registry.models import MODEL_ID_PATTERN


class GroupedTimestampSerializer(serializers.Serializer):
    value = serializers.DateTimeField()
    readable = serializers.CharField(help_text='e.g. "3 minutes ago"')


class ByteDescriptorSerializer(serializers.Serializer):
    value = serializers.IntegerField(help_text="Bytes")
    readable = serializers.CharField(help_text='e.g. "1.2 MB"')


class NodeProgressSerializer(serializers.Serializer):
    """One live node's copy of the model (a node = one model cache on one host; see README, Several nodes)."""

    node = serializers.CharField(help_text="MODELHUB_NODE_NAME of the node")
    status = serializers.CharField()
    percentage = serializers.FloatField(min_value=0, max_value=100)
    phase = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_null=True)
    bytes_done = serializers.IntegerField()
    bytes_total = serializers.IntegerField()


class DownloadProgressSerializer(serializers.Serializer):
    """One WebSocket frame of /model/{model}/download/progress (also the snapshot's `download`)."""

    status = serializers.ChoiceField(
        choices=DownloadStatus.choices,
        help_text="RESET: starting over (its worker died and it is queued to resume, or a finished download's files "
        "have left this node's cache).",
    )
    percentage = serializers.FloatField(
        min_value=0,
        max_value=100,
        help_text="Of the whole download (every phase, every node); never decreases.",
    )
    bytes_done = serializers.IntegerField(help_text="Of the current phase (summed over the nodes copying).")
    bytes_total = serializers.IntegerField(help_text="0 while unknown.")
    phase = serializers.ChoiceField(
        choices=DownloadPhase.choices,
        help_text="fetch (from the source URL), copy (from remote storage), unpack.",
    )
    error = serializers.CharField(allow_null=True, help_text="Why it FAILED.")
    nodes = NodeProgressSerializer(
        many=True, help_text="Each live node's copy once the artifact is stored (empty with no live server)."
    )


class ModelObjectSerializer(serializers.Serializer):
    """The Model object of the lifecycle API (spec/model-lifecycle-api.txt)."""

    id = serializers.CharField(help_text="Registry model id")
    name = serializers.CharField()
    version = serializers.CharField()
    created = GroupedTimestampSerializer()
    description = serializers.CharField(
        help_text="From the registry's overview (its `description` key, or its text)."
    )
    cloud = serializers.BooleanField(help_text="Always false: models run on this service.")
    type = serializers.ChoiceField(
        choices=ModelType.choices,
        help_text="Pieces ModelTypeEnum: as set by an update, else from the first listed precision: FP32 "
        "ACCURACY, FP16 BALANCED, INT8 and INT4 SPEED.",
    )
    usage = serializers.ChoiceField(
        choices=ModelUsage.choices, help_text="Pieces ModelUsageEnum: UNKNOWN unless an update set it."
    )
    format = serializers.CharField(help_text="Model format: openvino, onnx, tflite, paddle or unknown.")
    custom = serializers.BooleanField(
        help_text="Uploaded by a user (not imported from Geti): only these can be updated."
    )
    downloaded = serializers.BooleanField(help_text="Unpacked in the model cache of every live node.")
    downloading = serializers.BooleanField()
    loaded = serializers.BooleanField(help_text="A live server process holds it AVAILABLE.")
    unique = serializers.CharField(
        help_text="Servable name and version it is served and cached under, `name:version`."
    )
    bytes = ByteDescriptorSerializer(help_text="Size of the model's ZIP.")
    ram = ByteDescriptorSerializer(
        allow_null=True,
        help_text="Memory of the loaded model, summed over server processes; null when not loaded.",
    )
    cpu = serializers.BooleanField(help_text="Runs on the CPU device.")
    download = DownloadProgressSerializer(
        help_text="The latest download to this node (same shape as the WebSocket frames)."
    )


# Strict JSON types for the update body: DRF's own fields coerce ("yes" -> True, 5 -> "5", "5" -> 5).


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": "Not a valid string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictRegexField(serializers.RegexField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):  # (its message holds the pattern's braces: not for str.format)
            raise serializers.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_internal_value(data)


def _optional(field: type[serializers.Field], **kwargs: Any) -> serializers.Field:
    return field(required=False, allow_null=True, **kwargs)


class PiecesSchemaSerializer(serializers.Serializer):
    """Pieces `EmbeddedModelSchema`."""

    migration = StrictIntegerField()
    semantic = StrictCharField()


class _PiecesObject(serializers.Serializer):
    schema = PiecesSchemaSerializer(required=False, allow_null=True)


class PiecesByteDescriptorSerializer(_PiecesObject):
    value = StrictIntegerField()
    readable = StrictCharField(allow_blank=True)


class PiecesTimestampSerializer(_PiecesObject):
    value = serializers.DateTimeField()
    readable = _optional(StrictCharField, allow_blank=True)


class PiecesCapabilitiesSerializer(_PiecesObject):
    assets = _optional(StrictBooleanField)
    codebases = _optional(StrictBooleanField)
    documents = _optional(StrictBooleanField)
    images = _optional(StrictBooleanField)
    temporal = _optional(StrictBooleanField)
    videos = _optional(StrictBooleanField)
    websites = _optional(StrictBooleanField)


class PiecesMaxTokensSerializer(_PiecesObject):
    input = _optional(StrictFloatField)
    output = _optional(StrictFloatField)
    total = _optional(StrictFloatField)


class PiecesReferencedEntitySerializer(_PiecesObject):
    id = StrictCharField()
    reference = _optional(serializers.DictField, help_text="A Pieces FlattenedEntity.")


class PiecesScoreSerializer(_PiecesObject):
    automatic = StrictIntegerField()
    manual = StrictIntegerField()
    priority = _optional(StrictIntegerField)
    reference = _optional(StrictIntegerField)
    reuse = _optional(StrictIntegerField)
    searched = _optional(StrictIntegerField)
    update = _optional(StrictIntegerField)


class ModelUpdateSerializer(serializers.Serializer):
    """POST /model/update: a Pieces `Model` object (pieces-os-client 5.0.1), every field of it accepted.

    Applied: `name`, `version`, `description`, `type`, `usage`, and our `format`. The rest is checked for its
    JSON type and not stored: computed fields (`created`, `bytes`, `ram`, `downloaded`, ...) and the Pieces
    fields modelhub has no use for (`capabilities`, `foundation`, `maxTokens`, `parameters`, `score`, ...).
    `null` means "no change". A key outside the Pieces schema is a 422.
    """

    APPLIED = ("name", "version", "description", "type", "usage", "format")

    id = StrictRegexField(
        MODEL_ID_PATTERN,
        max_length=128,
        error_messages={"invalid": f"The id must match {MODEL_ID_PATTERN}."},
        help_text="The registry model to update (it cannot be changed: an id of no model is a 404).",
    )
    name = _optional(StrictCharField, max_length=255)
    version = _optional(StrictCharField, max_length=64)
    description = _optional(StrictCharField, allow_blank=True, max_length=10_000)
    type = _optional(
        serializers.ChoiceField,
        choices=ModelType.choices,
        help_text="Sets the shown type; the value the precision gives (FP32 ACCURACY, FP16 BALANCED, INT8/INT4 "
        "SPEED) makes it follow the precision again.",
    )
    usage = _optional(serializers.ChoiceField, choices=ModelUsage.choices)
    format = _optional(
        StrictCharField, max_length=64, allow_blank=True, help_text="Model format (the registry's `format`)."
    )
    # Computed by modelhub: type-checked, ignored.
    created = PiecesTimestampSerializer(required=False, allow_null=True)
    cloud = _optional(StrictBooleanField)
    cpu = _optional(StrictBooleanField)
    custom = _optional(StrictBooleanField)
    downloaded = _optional(StrictBooleanField)
    downloading = _optional(StrictBooleanField)
    loaded = _optional(StrictBooleanField)
    unique = _optional(StrictCharField, allow_blank=True)
    bytes = PiecesByteDescriptorSerializer(required=False, allow_null=True)
    ram = PiecesByteDescriptorSerializer(required=False, allow_null=True)
    download = _optional(serializers.DictField, help_text="The snapshot's download frame.")
    # Pieces fields without a meaning here: type-checked, not stored.
    capabilities = PiecesCapabilitiesSerializer(required=False, allow_null=True)
    denied = _optional(StrictBooleanField)
    foundation = _optional(StrictCharField, help_text="A Pieces ModelFoundationEnum value.")
    maxTokens = PiecesMaxTokensSerializer(required=False, allow_null=True)  # noqa: N815 (the Pieces key)
    organization = PiecesReferencedEntitySerializer(required=False, allow_null=True)
    parameters = _optional(StrictFloatField, help_text="Billions of parameters.")
    provider = _optional(StrictCharField, help_text="A Pieces ExternalMLProviderEnum value.")
    quantization = _optional(StrictCharField, allow_blank=True)
    schema = PiecesSchemaSerializer(required=False, allow_null=True)
    score = PiecesScoreSerializer(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Only the applied fields, without nulls (null = no change)."""
        return {
            key: value
            for key, value in attrs.items()
            if key == "id" or (key in self.APPLIED and value is not None)
        }
