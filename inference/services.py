"""Writes to the serving state. Every change bumps ServingGeneration in the same transaction, so every server
process (on every host) picks it up within one reconcile period."""

import logging
import re
import time
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from access import audit
from config.errors import ServiceError, ValidationFailed
from inference import config_file, plugin_config
from inference.cache import identity_for
from inference.genai.loading import validate_scheduler
from inference.models import SERVABLE_NAME_PATTERN, Servable, ServedVersion, ServingGeneration, VersionState
from inference.selectors import version_progress
from registry.detection import EXPECTED_MODEL_FILES
from registry.models import ArtifactFormat, Model
from registry.services import ModelNotFound

logger = logging.getLogger(__name__)

CONFIG_KEYS = {
    "name",
    "target_device",
    "plugin_config",
    "nireq",
    "warmup",
    "version_policy",
    "shape",
    "scheduler",
}


class ServingConflict(ServiceError):
    status_code = 409


def servable_load(*, model_id: str, config: dict[str, Any] | None = None) -> ServedVersion:
    """Serve a registry model (as a new version of its servable, or again if already served there).

    `config`: name (servable name override), target_device, plugin_config, nireq, warmup, version_policy,
    shape, scheduler (LLM versions: openvino-genai SchedulerConfig fields). Returns at once; the servers load it within a reconcile period (see `wait_for_version`).
    """
    options = _validated(config or {})
    model = Model.objects.filter(pk=model_id).first()
    if model is None:
        raise ModelNotFound()
    if not model.file:
        raise ServingConflict(
            f"Model {model_id} has no stored file yet (registered from a URL: download it first)."
        )
    if model.artifact_only or model.detected_format == ArtifactFormat.UNKNOWN:
        raise ServingConflict(
            f"Model {model_id} cannot be served: "
            + (
                "it was registered as a plain artifact (artifact_only=true)."
                if model.artifact_only
                else f"its ZIP holds no model file (expected {EXPECTED_MODEL_FILES})."
            )
        )
    identity = identity_for(model)
    name = options.pop("name", None) or identity.servable_name
    if name in _config_file_names():
        raise ServingConflict(f"Servable name {name} is served from MODEL_CONFIG_PATH; choose another name.")
    with transaction.atomic():
        servable, _ = Servable.objects.select_for_update().get_or_create(
            name=name, defaults={"target_device": settings.INFERENCE_DEFAULT_DEVICE}
        )
        for key, value in options.items():
            setattr(servable, key, value)
        servable.save()
        row = ServedVersion.objects.filter(servable=servable, model=model).first()
        if row is not None:
            if row.retain_until is not None:
                row.retain_until = None
                row.save(update_fields=["retain_until"])
        else:
            taken = set(ServedVersion.objects.filter(servable=servable).values_list("version", flat=True))
            number = identity.version if identity.version not in taken else max(taken) + 1
            row = ServedVersion.objects.create(servable=servable, version=number, model=model)
        ServingGeneration.bump()
    logger.info("Serving model %s as %s version %s", model_id, name, row.version)
    audit.record("load", "model", model_id, servable=name, version=row.version)
    return row


def servable_unload(*, model_id: str) -> int:
    """Stop serving a registry model everywhere; returns how many served versions were removed."""
    if not Model.objects.filter(pk=model_id).exists():
        raise ModelNotFound()
    with transaction.atomic():
        rows = list(
            ServedVersion.objects.select_for_update().filter(model_id=model_id).select_related("servable")
        )
        servables = {row.servable_id: row.servable for row in rows}
        removed = {(row.servable_id, row.version) for row in rows}
        ServedVersion.objects.filter(pk__in=[row.pk for row in rows]).delete()
        for servable in servables.values():
            if not servable.versions.exists():
                servable.delete()
                continue
            for field in ("default_version", "previous_default_version"):
                if (servable.pk, getattr(servable, field)) in removed:
                    setattr(servable, field, None)
            servable.save()
        if rows:
            ServingGeneration.bump()
    if rows:
        logger.info("Stopped serving model %s (%s version(s))", model_id, len(rows))
    audit.record("unload", "model", model_id, removed_versions=len(rows))
    return len(rows)


def wait_for_version(
    name: str,
    version: int,
    *,
    timeout: float,
    state: VersionState = VersionState.AVAILABLE,
    poll: float = 0.2,
) -> bool:
    """True once every live server process reports `name:version` in `state` (AVAILABLE also means warmed up
    when the servable warms up; END means no live process holds it). False on timeout, or at once when a
    process reports that loading failed."""
    deadline = time.monotonic() + timeout
    while True:
        done = version_progress(name, version, state)
        if done is not None:
            return done
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


def _validated(config: dict[str, Any]) -> dict[str, Any]:
    unknown = set(config) - CONFIG_KEYS
    if unknown:
        raise ValidationFailed(
            [
                {"loc": ["body", "config", key], "msg": "Unknown serving setting.", "type": "value_error"}
                for key in sorted(unknown)
            ]
        )
    options: dict[str, Any] = {}
    if config.get("name") is not None:
        if not isinstance(config["name"], str) or not re.match(SERVABLE_NAME_PATTERN, config["name"]):
            raise ValidationFailed.single(["body", "config", "name"], f"Must match {SERVABLE_NAME_PATTERN}.")
        options["name"] = config["name"]
    if config.get("target_device") is not None:
        if not isinstance(config["target_device"], str) or not config["target_device"]:
            raise ValidationFailed.single(
                ["body", "config", "target_device"], "Must be an OpenVINO device name such as CPU."
            )
        options["target_device"] = config["target_device"]
    if config.get("plugin_config") is not None:
        try:
            options["plugin_config"] = plugin_config.checked(config["plugin_config"])
        except plugin_config.PluginConfigInvalid as invalid:
            raise ValidationFailed.single(["body", "config", "plugin_config"], str(invalid)) from None
    if "nireq" in config:
        nireq = config["nireq"]
        if nireq is not None and (type(nireq) is not int or not 1 <= nireq <= 100_000):
            raise ValidationFailed.single(["body", "config", "nireq"], "Must be a positive integer.")
        options["nireq"] = nireq
    if config.get("warmup") is not None:
        if not isinstance(config["warmup"], bool):
            raise ValidationFailed.single(["body", "config", "warmup"], "Must be true or false.")
        options["warmup"] = config["warmup"]
    if "version_policy" in config:
        try:
            config_file.validate_version_policy(config["version_policy"])
        except config_file.ConfigFileInvalid as exc:
            raise ValidationFailed.single(["body", "config", "version_policy"], str(exc)) from None
        options["version_policy"] = config["version_policy"] or {}
    if "shape" in config:
        options["shape"] = config["shape"]
    if config.get("scheduler") is not None:
        try:
            options["scheduler_config"] = validate_scheduler(config["scheduler"])
        except ValueError as exc:
            raise ValidationFailed.single(["body", "config", "scheduler"], f"{exc}.") from None
    return options


def _config_file_names() -> set[str]:
    if not settings.MODEL_CONFIG_PATH:
        return set()
    try:
        return {model.name for model in config_file.read_config(settings.MODEL_CONFIG_PATH)}
    except (config_file.ConfigFileMissing, config_file.ConfigFileInvalid):
        return set()


def servable_set_default(*, name: str, version: int | None, switch_at: datetime | None = None) -> Servable:
    """Pin the default version of a servable (None: back to the highest AVAILABLE one, as OVMS).

    With `switch_at`, the default in effect now stays until that moment, which every server process learns
    in advance: they all switch at the same instant (green deployments). Without it, the switch happens as
    each process reconciles (within one reconcile period).
    """
    with transaction.atomic():
        servable = Servable.objects.select_for_update().filter(name=name).first()
        if servable is None:
            raise ServiceError(f"Servable {name} is not served.", status_code=404)
        if version is not None and not servable.versions.filter(version=version).exists():
            raise ServingConflict(f"Servable {name} has no version {version}.")
        now = timezone.now()
        in_effect = servable.default_version
        if servable.default_switch_at is not None and now < servable.default_switch_at:
            in_effect = servable.previous_default_version
        servable.previous_default_version = in_effect if switch_at is not None else None
        servable.default_version = version
        servable.default_switch_at = switch_at
        servable.save()
        ServingGeneration.bump()
    return servable


def served_version_retain(*, name: str, version: int, until: datetime | None) -> ServedVersion:
    """Keep a version loaded until `until` even when its servable's version policy no longer selects it
    (draining after a green switch); None lets the policy decide again."""
    with transaction.atomic():
        row = ServedVersion.objects.select_for_update().filter(servable__name=name, version=version).first()
        if row is None:
            raise ServiceError(f"Servable {name} has no version {version}.", status_code=404)
        row.retain_until = until
        row.save(update_fields=["retain_until"])
        ServingGeneration.bump()
    return row
