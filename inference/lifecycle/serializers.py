"""Shapes of the lifecycle API: the spec's Model object, download progress frames, and the update body."""

from rest_framework import serializers

from inference.lifecycle.models import DownloadPhase, DownloadStatus
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
        min_value=0, max_value=100, help_text="Of the whole download (every phase, every node); never decreases."
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
    type = serializers.CharField(help_text="Model format: openvino, onnx, tflite, paddle.")
    usage = serializers.CharField(help_text="The registry category (e.g. classification, detection).")
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


class ModelUpdateSerializer(serializers.Serializer):
    """POST /model/update: a Model object. Only the fields below change; computed fields are ignored."""

    id = serializers.RegexField(
        MODEL_ID_PATTERN, max_length=128, error_messages={"invalid": f"The id must match {MODEL_ID_PATTERN}."}
    )
    name = serializers.CharField(max_length=255, required=False)
    version = serializers.CharField(max_length=64, required=False)
    description = serializers.CharField(allow_blank=True, allow_null=True, required=False, max_length=10_000)
    type = serializers.CharField(max_length=64, allow_blank=True, required=False, help_text="Model format.")
    usage = serializers.CharField(max_length=255, allow_blank=True, required=False, help_text="Category.")

    READ_ONLY_KEYS = frozenset(
        {
            "created",
            "cloud",
            "custom",
            "downloaded",
            "downloading",
            "loaded",
            "unique",
            "bytes",
            "ram",
            "cpu",
            "download",
            "schema",
        }
    )
