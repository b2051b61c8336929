"""The `config` object of POST /deploy: every key known, every value checked, errors name the key."""

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings

from config.errors import ServiceError
from inference import plugin_config
from inference.genai.loading import validate_scheduler
from inference.models import SERVABLE_NAME_PATTERN

_DEVICE = re.compile(r"^(CPU|GPU(\.\d+)?|NPU|AUTO|HETERO|MULTI)(:[A-Z0-9.,]+)?$")
_NAME = re.compile(SERVABLE_NAME_PATTERN)


class InvalidConfig(ServiceError):
    status_code = 400


@dataclass(frozen=True)
class DeploymentConfig:
    servable_name: str | None = None
    target_device: str = field(default_factory=lambda: settings.INFERENCE_DEFAULT_DEVICE)
    plugin_config: dict[str, str | int | float | bool] = field(default_factory=dict)
    nireq: int | None = None
    scheduler: dict[str, int | bool] = field(default_factory=dict)  # LLM versions: SchedulerConfig fields
    warmup: bool = True
    drain_seconds: float = 5.0
    load_timeout_seconds: float = 300.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


KEYS = tuple(DeploymentConfig.__dataclass_fields__)


def parse_config(raw: Any) -> DeploymentConfig:
    """Validate a client's config object; unknown keys and bad values give one 400 naming all of them."""
    if raw is None:
        return DeploymentConfig()
    if not isinstance(raw, dict):
        raise InvalidConfig("config must be a JSON object.")
    problems: list[str] = []
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        problems.append(f"unknown key(s): {', '.join(unknown)} (known: {', '.join(KEYS)})")
    values: dict[str, Any] = {}
    for key, check in _CHECKS.items():
        if key in raw and raw[key] is not None:
            message = check(raw[key])
            if message:
                problems.append(f"{key}: {message}")
            else:
                values[key] = raw[key]
    if problems:
        raise InvalidConfig("Invalid config - " + "; ".join(problems))
    if "plugin_config" in values:
        values["plugin_config"] = plugin_config.checked(values["plugin_config"])
    if "drain_seconds" in values:
        values["drain_seconds"] = float(values["drain_seconds"])
    if "load_timeout_seconds" in values:
        values["load_timeout_seconds"] = float(values["load_timeout_seconds"])
    return DeploymentConfig(**values)


def _servable_name(value: Any) -> str | None:
    if not isinstance(value, str) or not _NAME.match(value):
        return f"must match {SERVABLE_NAME_PATTERN}"
    return None


def _device(value: Any) -> str | None:
    if not isinstance(value, str) or not _DEVICE.match(value):
        return "must be an OpenVINO device such as CPU, GPU, NPU, AUTO or HETERO:GPU,CPU"
    return None


def _plugin_config(value: Any) -> str | None:
    try:
        plugin_config.checked(value)
    except plugin_config.PluginConfigInvalid as invalid:
        return str(invalid)
    return None


def _scheduler(value: Any) -> str | None:
    try:
        validate_scheduler(value)
    except ValueError as exc:
        return str(exc)
    return None


def _int_range(low: int, high: int):  # type: ignore[no-untyped-def]
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"must be an integer from {low} to {high}"
        return None

    return check


def _number_range(low: float, high: float):  # type: ignore[no-untyped-def]
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            return f"must be a number from {low:g} to {high:g}"
        return None

    return check


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


_CHECKS = {
    "servable_name": _servable_name,
    "target_device": _device,
    "plugin_config": _plugin_config,
    "nireq": _int_range(1, 128),
    "scheduler": _scheduler,
    "warmup": _boolean,
    "drain_seconds": _number_range(0, 3600),
    "load_timeout_seconds": _number_range(1, 3600),
}
