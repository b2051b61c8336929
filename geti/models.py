import uuid

from django.db import models
from django.utils import timezone

from registry.models import Model


def _job_id() -> str:
    return uuid.uuid4().hex


class ImportStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"


class GetiImportJob(models.Model):
    """One `POST /projects/{pid}/geti-models/download` request: the source of truth for its outcome.

    django-q2 only delivers the work. A finished job keeps the HTTP status and text the request answers
    (201/403/404/409/5xx), so a client that got 202 learns the same outcome later.
    """

    id = models.CharField(primary_key=True, max_length=32, default=_job_id, editable=False)
    project_id = models.CharField(max_length=64)
    requested = models.JSONField(help_text='The request\'s [{"id", "group_id"}] list.')
    status = models.CharField(
        max_length=16, choices=ImportStatus.choices, default=ImportStatus.PENDING, db_index=True
    )
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)
    registered_ids = models.JSONField(default=list, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Touched while the import makes progress: a running job whose heartbeat is old lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "Geti import"

    def __str__(self) -> str:
        return f"Geti import {self.id} ({self.status})"

    @property
    def requested_ids(self) -> list[str]:
        return [str(item["id"]) for item in self.requested]


class GetiImport(models.Model):
    """Where a registry model imported from Geti came from."""

    model = models.OneToOneField(
        Model, on_delete=models.CASCADE, primary_key=True, related_name="geti_import"
    )
    job = models.ForeignKey(
        GetiImportJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="imports"
    )
    geti_host = models.CharField(max_length=512)
    organization_id = models.CharField(max_length=64, blank=True)
    workspace_id = models.CharField(max_length=64, blank=True)
    project_id = models.CharField(max_length=64, db_index=True)
    project_name = models.CharField(max_length=255, blank=True)
    model_group_id = models.CharField(max_length=64)
    model_group_name = models.CharField(max_length=255, blank=True)
    geti_model_id = models.CharField(
        max_length=64, help_text="The trained model (a revision in the model group)."
    )
    optimized_model_id = models.CharField(max_length=64, unique=True)
    optimization_type = models.CharField(max_length=64, blank=True)
    geti_creation_date = models.CharField(max_length=64, blank=True)
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "Geti provenance"
        verbose_name_plural = "Geti provenance"

    def __str__(self) -> str:
        return f"Geti {self.project_name or self.project_id} / {self.model_group_name or self.model_group_id} / {self.optimized_model_id}"
