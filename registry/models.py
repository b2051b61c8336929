import uuid

from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

MODEL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
SUPPORTED_PRECISIONS = ("FP32", "FP16", "INT8", "INT4")


def artifact_path(instance: "Model", filename: str) -> str:
    """A storage key that no other upload can hold, recorded on the row.

    Several requests may race to register the same id (and S3 has no atomic "create if absent"): each stores its
    archive under a key of its own, so a request that loses the race deletes its own object, never the winner's.
    """
    return f"models/{instance.id}-{uuid.uuid4().hex[:16]}.zip"


class ArtifactFormat(models.TextChoices):
    OPENVINO = "openvino", "OpenVINO IR"
    ONNX = "onnx", "ONNX"
    TFLITE = "tflite", "TensorFlow Lite"
    PADDLE = "paddle", "PaddlePaddle"
    UNKNOWN = "unknown", "Unknown"


class ModelTask(models.TextChoices):
    """What a model is served as: a tensor model (TFS/KServe v2) or an openvino-genai pipeline (/v3)."""

    TENSOR = "", "Tensor model (TFS, KServe v2)"
    TEXT_GENERATION = "text-generation", "Text generation (LLM)"
    EMBEDDINGS = "embeddings", "Embeddings"
    RERANK = "rerank", "Rerank"


class Model(models.Model):
    """A registered model: metadata plus one ZIP artifact in the configured storage."""

    id = models.CharField(primary_key=True, max_length=128, validators=[RegexValidator(MODEL_ID_PATTERN)])
    name = models.CharField(max_length=255)
    version = models.CharField(max_length=64)
    # Canonical comma-joined list ("FP16,INT8"): one column that filters by substring and takes part in the
    # identity constraint; the API shows it as a list.
    precision = models.CharField(max_length=64, default="FP32")
    target_device = models.CharField(max_length=255, blank=True)
    target_device_type = models.CharField(max_length=255, blank=True)
    format = models.CharField(max_length=64, blank=True)
    detected_format = models.CharField(max_length=16, choices=ArtifactFormat.choices, blank=True)
    # Recognised from the ZIP's files at registration (registry/detection.py), or set by the uploader.
    task = models.CharField(max_length=32, choices=ModelTask.choices, blank=True, default="")
    origin = models.CharField(max_length=255, blank=True)
    project_id = models.CharField(max_length=255, blank=True)
    project_name = models.CharField(max_length=255, blank=True)
    category = models.CharField(max_length=255, blank=True)
    architecture = models.CharField(max_length=255, blank=True)
    score = models.FloatField(null=True, blank=True)
    overview = models.JSONField(null=True, blank=True)
    optimization_capabilities = models.JSONField(null=True, blank=True)
    labels = models.JSONField(default=list, blank=True)
    file = models.FileField(upload_to=artifact_path, max_length=512, blank=True)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    source_url = models.URLField(max_length=2048, blank=True)
    # Inputs and outputs as OpenVINO reads them (registry/signature.py); None when the files cannot be read.
    signature = models.JSONField(null=True, blank=True)
    # Declared at registration: the ZIP is a plain artifact (no model file), stored but never served.
    artifact_only = models.BooleanField(default=False)
    created_date = models.DateTimeField(default=timezone.now)
    last_updated_date = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_date", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["name", "version", "precision", "project_id"], name="registry_model_unique_identity"
            )
        ]
        indexes = [models.Index(fields=["name", "version"], name="registry_model_name_version")]

    def __str__(self) -> str:
        return f"{self.name} {self.version} ({self.id})"

    @property
    def precision_list(self) -> list[str]:
        return [p for p in self.precision.split(",") if p]

    @property
    def is_custom(self) -> bool:
        """Uploaded by a user (as opposed to imported from Geti): only these may be edited through /model/update."""
        return self.origin.lower() != "geti"
