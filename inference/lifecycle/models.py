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

    class Meta:
        indexes = [models.Index(fields=["status"], name="lifecycle_job_status")]

    def __str__(self) -> str:
        return f"download of {self.model_id}: {self.status}"

    @property
    def percentage(self) -> float:
        if self.status == DownloadStatus.COMPLETED:
            return 100.0
        if self.bytes_total <= 0:
            return 0.0
        return round(min(self.bytes_done / self.bytes_total, 1.0) * 100, 2)
