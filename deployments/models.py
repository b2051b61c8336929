"""Deployment and deletion tasks: our own table is the source of truth (django-q2 only delivers them)."""

import uuid

from django.db import models


def new_task_id() -> str:
    return uuid.uuid4().hex


class TaskKind(models.TextChoices):
    DEPLOY = "deploy"
    DELETE = "delete"


class TaskStatus(models.TextChoices):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"
    CANCELED = "canceled"
    REFUSED = "refused"


ACTIVE_STATUSES = (TaskStatus.PENDING, TaskStatus.PROCESSING)
FINAL_STATUSES = (TaskStatus.DONE, TaskStatus.FAILED, TaskStatus.CANCELED, TaskStatus.REFUSED)


class DeploymentTask(models.Model):
    id = models.CharField(primary_key=True, max_length=128, default=new_task_id)
    kind = models.CharField(max_length=8, choices=TaskKind.choices)
    # A plain id, not a foreign key: the history of a model outlives the model.
    model_id = models.CharField(max_length=128, db_index=True)
    servable_name = models.CharField(max_length=128, blank=True, db_index=True)
    status = models.CharField(
        max_length=12, choices=TaskStatus.choices, default=TaskStatus.PENDING, db_index=True
    )
    detail = models.TextField(
        blank=True, help_text="Why the task failed, was refused or canceled; or what it did."
    )
    config = models.JSONField(default=dict, blank=True)
    # steps: [{"name", "status", "started_at", "finished_at", "detail"}], previous: what served before, timings.
    metadata = models.JSONField(default=dict, blank=True)
    cancel_requested = models.BooleanField(default=False)
    # An operator's request to a running canary or shadow (POST /deploy/{id}/promote|rollback|weight):
    # {"action": "promote"|"rollback"|"weight", "weight": N, "by": who, "at": time}; the worker applies it and
    # clears it. Written by the API, read by the worker: never by both (the worker owns `metadata`).
    control = models.JSONField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Updated by the worker while it runs the task."
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    requested_by = models.CharField(
        max_length=150, blank=True, help_text="Who asked: API key name, user name, 'anonymous' or 'system'."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["model_id", "kind", "-created_at"], name="deployments_model_kind_newest")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.model_id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES
