"""The download job of each registry model: the source of truth for progress, cancellation and recovery.

django-q2 only delivers the work. Every state change is a conditional UPDATE on (model, run_id, status), so a
task delivered twice, a cancel racing the worker, or two recoveries of the same stale job change it once.
"""

from django.db import models

from registry.models import Model


class DownloadStatus(models.TextChoices):
    """The spec's status values. RESET: interrupted (its worker died) and queued again to resume."""

    UNKNOWN = "UNKNOWN"
    INITIALIZED = "INITIALIZED"
    IN_PROGRESS = "IN-PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    RESET = "RESET"


ACTIVE_STATUSES = (DownloadStatus.INITIALIZED, DownloadStatus.IN_PROGRESS, DownloadStatus.RESET)
TERMINAL_STATUSES = (DownloadStatus.COMPLETED, DownloadStatus.FAILED, DownloadStatus.CANCELED)


class DownloadPhase(models.TextChoices):
    NONE = "", "-"
    FETCH = "fetch", "Fetching from the source URL"
    COPY = "copy", "Copying from artifact storage"
    UNPACK = "unpack", "Unpacking into the model cache"


class DownloadJob(models.Model):
    """The latest download of one model to this node's cache (a new download reuses the row with a new run_id)."""

    model = models.OneToOneField(
        Model, on_delete=models.CASCADE, primary_key=True, related_name="download_job"
    )
    run_id = models.CharField(
        max_length=32, help_text="Identifies one run; tasks of an older run do nothing."
    )
    status = models.CharField(
        max_length=16, choices=DownloadStatus.choices, default=DownloadStatus.INITIALIZED
    )
    phase = models.CharField(
        max_length=8, choices=DownloadPhase.choices, blank=True, default=DownloadPhase.NONE
    )
    bytes_done = models.BigIntegerField(default=0)
    bytes_total = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the process running it.")
    heartbeat = models.DateTimeField(null=True, blank=True)
    resumes = models.PositiveIntegerField(default=0, help_text="Times it was resumed after its worker died.")
    # ETag or Last-Modified of the source URL, sent as If-Range when resuming so a changed file restarts.
    validator = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Microsecond timestamp of the last change: orders frames that reach a WebSocket by two routes.
    version = models.BigIntegerField(default=0)
    # Share of the whole download (0-100) done by this job; never decreases within one run (phases are
    # weighted, see services._DownloadRun). When the nodes copy after it, they fill the rest.
    progress = models.FloatField(default=0.0)

    class Meta:
        indexes = [models.Index(fields=["status"], name="lifecycle_job_status")]

    def __str__(self) -> str:
        return f"download of {self.model_id}: {self.status}"

    @property
    def percentage(self) -> float:
        if self.status == DownloadStatus.COMPLETED:
            return 100.0
        return round(self.progress, 2)


class ModelType(models.TextChoices):
    """The Pieces `ModelTypeEnum`: shown from the precision (FP32 ACCURACY, FP16 BALANCED, INT8/INT4 SPEED)."""

    UNKNOWN = "UNKNOWN"
    BALANCED = "BALANCED"
    SPEED = "SPEED"
    ACCURACY = "ACCURACY"


TYPE_OF_PRECISION = {
    "FP32": ModelType.ACCURACY,
    "FP16": ModelType.BALANCED,
    "INT8": ModelType.SPEED,
    "INT4": ModelType.SPEED,
}


def type_from_precision(precisions: list[str]) -> str:
    """The Pieces type a model's precision gives: that of its first listed precision."""
    return (
        TYPE_OF_PRECISION.get(precisions[0].upper(), ModelType.UNKNOWN) if precisions else ModelType.UNKNOWN
    )


class ModelUsage(models.TextChoices):
    """The Pieces `ModelUsageEnum` (pieces-os-client 5.0.1)."""

    UNKNOWN = "UNKNOWN"
    OCR = "OCR"
    CODE_CLASSIFICATION = "CODE_CLASSIFICATION"
    TEXT_VS_CODE = "TEXT_VS_CODE"
    TAGIFY_CODE = "TAGIFY_CODE"
    TLP_TAG_SEARCH = "TLP_TAG_SEARCH"
    TLP_NEURAL_CODE_SEARCH = "TLP_NEURAL_CODE_SEARCH"
    TAGIFY_COLOR_FROM_CODE = "TAGIFY_COLOR_FROM_CODE"
    CODE_DESCRIPTION = "CODE_DESCRIPTION"
    CODE_TITLE = "CODE_TITLE"
    CODE_SEARCH_QUERIES = "CODE_SEARCH_QUERIES"
    CODE_EXTRACTIVE_TAGS = "CODE_EXTRACTIVE_TAGS"
    CODE_EXTRACTIVE_LINKS = "CODE_EXTRACTIVE_LINKS"
    CODE_CONVERSATION = "CODE_CONVERSATION"
    CODE_GENERATION = "CODE_GENERATION"
    CODE_SEARCH = "CODE_SEARCH"
    CODE_DISCOVERY = "CODE_DISCOVERY"
    CODE_RELATED_PEOPLE = "CODE_RELATED_PEOPLE"
    CODE_FRAMEWORK = "CODE_FRAMEWORK"
    VIDEO_OCR = "VIDEO_OCR"
    TEXT_VS_CODE_SEGMENTATION = "TEXT_VS_CODE_SEGMENTATION"
    TEXT_EMBEDDING = "TEXT_EMBEDDING"
    TECHNICAL_ERROR = "TECHNICAL_ERROR"


class ModelTraits(models.Model):
    """What a /model/update set of a model's Pieces `type` and `usage` (the registry has no column for them)."""

    model = models.OneToOneField(Model, on_delete=models.CASCADE, primary_key=True, related_name="traits")
    type = models.CharField(
        max_length=16,
        choices=ModelType.choices,
        blank=True,
        help_text="Set by an update; blank = follow the precision.",
    )
    usage = models.CharField(max_length=32, choices=ModelUsage.choices, default=ModelUsage.UNKNOWN)

    def __str__(self) -> str:
        return f"traits of {self.model_id}: {self.type or '-'} {self.usage}"


# --- Several nodes (DESIGN.md section 8) --------------------------------------------------------------------
#
# A node is one model cache on one host: settings.NODE_NAME (MODELHUB_NODE_NAME, default "node-<hash of
# hostname and model cache folder>"). Its server processes do its node-local work (inference.lifecycle.nodes):
# worker-only hosts serve nothing, so they hold no cache. A COMPLETED DownloadJob means "wanted in the cache
# of every node"; each node's server processes copy it into their own cache and record it in a NodeCopy row.
# "Downloaded" = every live node has a COMPLETED copy. A node that joins later sees the COMPLETED jobs and
# catches up; a CacheRemoval (POST /delete) or a deleted model (no ServableIdentity) makes every node evict.


class Node(models.Model):
    """A node with at least one live server process (heartbeat from each of them)."""

    name = models.CharField(primary_key=True, max_length=255)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return self.name


class NodeCopy(models.Model):
    """One model's copy in one node's cache, for one download run (a newer run makes every node copy again)."""

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="node_copies")
    node = models.CharField(max_length=255)
    run_id = models.CharField(max_length=32)
    status = models.CharField(
        max_length=16, choices=DownloadStatus.choices, default=DownloadStatus.IN_PROGRESS
    )
    phase = models.CharField(
        max_length=8, choices=DownloadPhase.choices, blank=True, default=DownloadPhase.NONE
    )
    percentage = models.FloatField(default=0.0, help_text="Never decreases within one run.")
    bytes_done = models.BigIntegerField(default=0)
    bytes_total = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    worker = models.CharField(
        max_length=200, blank=True, help_text="host:pid of the server process copying it."
    )
    heartbeat = models.DateTimeField(null=True, blank=True)
    version = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "node"], name="lifecycle_nodecopy_model_node")
        ]

    def __str__(self) -> str:
        return f"{self.model_id} on {self.node}: {self.status}"


class CacheRemoval(models.Model):
    """POST /delete asked every node to drop the model's unpacked files (until a new download starts)."""

    model = models.OneToOneField(
        Model, on_delete=models.CASCADE, primary_key=True, related_name="cache_removal"
    )
    requested_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"removal of {self.model_id} from every node"
