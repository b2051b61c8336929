"""Serving state shared by every server process on every host (DESIGN.md section 2).

The database says what should be served; each server process reconciles its own cache of compiled OpenVINO
models with it (inference/runtime.py) and reports back what it actually holds (ServingProcess, VersionReport).
Every change to the desired state bumps ServingGeneration in the same transaction, so a process only has to
read one integer to know whether anything changed.
"""

from django.db import models
from django.db.models import F

from registry.models import Model

SERVABLE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"


class ServableIdentity(models.Model):
    """The name and integer version under which a registry model is served and cached (OVMS layout).

    Assigned once, the first time a model is downloaded or served: a model whose version string is a
    positive integer keeps it; otherwise the next free integer for that name is used.
    """

    model = models.OneToOneField(
        Model, on_delete=models.CASCADE, primary_key=True, related_name="serving_identity"
    )
    servable_name = models.CharField(max_length=128)
    version = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["servable_name", "version"], name="inference_identity_unique")
        ]
        verbose_name_plural = "servable identities"

    def __str__(self) -> str:
        return f"{self.servable_name}:{self.version}"


class Servable(models.Model):
    """A name clients call (/v1/models/{name}, /v2/models/{name}) and how its versions are run."""

    name = models.CharField(max_length=128, unique=True)
    target_device = models.CharField(max_length=64, default="CPU")
    plugin_config = models.JSONField(default=dict, blank=True)
    nireq = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Infer requests per version; empty = twice OpenVINO's optimal number.",
    )
    version_policy = models.JSONField(
        default=dict,
        blank=True,
        help_text='OVMS model_version_policy, e.g. {"latest": {"num_versions": 1}}; empty = all.',
    )
    shape = models.JSONField(null=True, blank=True, help_text="Optional reshape, as OVMS's `shape` setting.")
    warmup = models.BooleanField(
        default=True, help_text="Run one real inference on each version before it takes traffic."
    )
    scheduler_config = models.JSONField(
        default=dict,
        blank=True,
        help_text='LLM versions: openvino-genai SchedulerConfig, e.g. {"cache_size": 2, "max_num_seqs": 64}; '
        "empty = the server's defaults.",
    )
    # The default version. Empty: the highest AVAILABLE version (OVMS behaviour). Set: pinned, and from
    # `default_switch_at` on (a moment all processes learn in advance) it replaces `previous_default_version`,
    # so every process switches at the same instant.
    default_version = models.PositiveIntegerField(null=True, blank=True)
    previous_default_version = models.PositiveIntegerField(null=True, blank=True)
    default_switch_at = models.DateTimeField(null=True, blank=True)
    # Progressive delivery (deployments/runner.py, inference/canary.py): a canary receives `candidate_weight` % of
    # the requests that name no version; a shadow receives a copy of that share after the default answered.
    candidate_version = models.PositiveIntegerField(null=True, blank=True)
    candidate_weight = models.PositiveSmallIntegerField(
        default=0, help_text="Percent (0-100) of version-less requests sent (canary) or copied (shadow)."
    )
    candidate_mode = models.CharField(
        max_length=8, default="canary", choices=[("canary", "canary"), ("shadow", "shadow")]
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class ServedVersion(models.Model):
    """One version of a servable, backed by a registry model (or by files in place for config.json models)."""

    servable = models.ForeignKey(Servable, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    # PROTECT: a registry model cannot be deleted while it is served (the registry answers 409).
    model = models.ForeignKey(
        Model, on_delete=models.PROTECT, null=True, blank=True, related_name="served_versions"
    )
    # Kept loaded until this moment even if no longer selected (drain after a green switch).
    retain_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["servable", "version"], name="inference_served_version_unique")
        ]
        ordering = ["servable_id", "version"]

    def __str__(self) -> str:
        return f"served as {self.servable.name}:{self.version}"


class ServingGeneration(models.Model):
    """A single row whose value changes whenever the desired serving state changes."""

    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"generation {self.value}"

    @classmethod
    def bump(cls) -> None:
        """Call inside the transaction that changes Servable/ServedVersion rows."""
        if not cls.objects.filter(pk=1).update(value=F("value") + 1):
            cls.objects.get_or_create(pk=1, defaults={"value": 1})

    @classmethod
    def current(cls) -> int:
        return cls.objects.filter(pk=1).values_list("value", flat=True).first() or 0


class ServingProcess(models.Model):
    """A live server process (heartbeat); stale rows are ignored and cleaned up."""

    id = models.CharField(primary_key=True, max_length=200)  # "<host>:<pid>:<start time>"
    host = models.CharField(max_length=128)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField()
    generation_seen = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "server process"
        verbose_name_plural = "server processes"

    def __str__(self) -> str:
        return self.id


class VersionState(models.IntegerChoices):
    """OVMS model version states, with OVMS's numbers."""

    START = 10
    LOADING = 20
    AVAILABLE = 30
    UNLOADING = 40
    END = 50


class VersionReport(models.Model):
    """What one server process holds for one servable version: its state, any load error, its memory."""

    process = models.ForeignKey(ServingProcess, on_delete=models.CASCADE, related_name="reports")
    servable_name = models.CharField(max_length=128)
    version = models.PositiveIntegerField()
    state = models.PositiveSmallIntegerField(choices=VersionState.choices)
    error_code = models.CharField(max_length=32, default="OK")
    error_message = models.TextField(blank=True)
    warmed_up = models.BooleanField(default=False)
    ram_bytes = models.BigIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["process", "servable_name", "version"], name="inference_report_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.servable_name}:{self.version} {VersionState(self.state).name} on {self.process_id}"


class TrafficSample(models.Model):
    """Inference traffic of one servable version in one server process over a few seconds (inference/traffic.py).

    Every server process writes its own rows, so the operator console adds up every process and every replica.
    Rows older than an hour are pruned.
    """

    process_id = models.CharField(max_length=200)
    servable_name = models.CharField(max_length=128)
    version = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    seconds = models.FloatField()
    requests = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    # Successful requests per latency bucket (upper bounds: inference.metrics.TIME_BUCKETS_US) and their sum.
    latency_buckets = models.JSONField(default=list)
    latency_sum_us = models.FloatField(default=0.0)
    # Generative models (/v3): tokens generated, and requests per time-to-first-token bucket (same bounds).
    generated_tokens = models.PositiveBigIntegerField(default=0)
    first_token_buckets = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["servable_name", "started_at"], name="inference_traffic_name_time"),
            models.Index(fields=["started_at"], name="inference_traffic_time"),
        ]

    def __str__(self) -> str:
        return f"{self.servable_name}:{self.version} {self.requests} requests at {self.started_at:%H:%M:%S}"
