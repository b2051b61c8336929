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


GREEN, CANARY, SHADOW = "green", "canary", "shadow"
STRATEGIES = (GREEN, CANARY, SHADOW)
# A step fails when the candidate's failure rate exceeds the stable version's by more than
# `max_failure_rate_increase`, or its p99 latency is more than `max_p99_ratio` times the stable one's; it is
# judged only once the candidate has answered `min_requests` requests in it (until then the step is extended).
ANALYSIS_DEFAULTS: dict[str, float | int] = {
    "max_failure_rate_increase": 0.05,
    "max_p99_ratio": 1.5,
    "min_requests": 100,
}


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
    # Progressive delivery: "green" (switch at one instant), "canary" (a share of the traffic) or "shadow"
    # (a copy of a share of the traffic). `weight`: manual, held until promoted or rolled back; `steps`:
    # automatic, each step held `step_seconds` and judged by `analysis` before the next.
    strategy: str = "green"
    weight: int | None = None
    steps: list[int] = field(default_factory=list)
    step_seconds: float = 60.0
    analysis: dict[str, float | int] = field(default_factory=dict)

    @property
    def progressive(self) -> bool:
        return self.strategy in (CANARY, SHADOW)

    @property
    def thresholds(self) -> dict[str, float | int]:
        """The analysis thresholds with their defaults filled in."""
        return {**ANALYSIS_DEFAULTS, **self.analysis}

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
    problems += _strategy_problems(raw, values)
    if problems:
        raise InvalidConfig("Invalid config - " + "; ".join(problems))
    if "plugin_config" in values:
        values["plugin_config"] = plugin_config.checked(values["plugin_config"])
    if "drain_seconds" in values:
        values["drain_seconds"] = float(values["drain_seconds"])
    if "load_timeout_seconds" in values:
        values["load_timeout_seconds"] = float(values["load_timeout_seconds"])
    if "step_seconds" in values:
        values["step_seconds"] = float(values["step_seconds"])
    if values.get("strategy") in (CANARY, SHADOW) and "weight" not in values and "steps" not in values:
        values["weight"] = 10  # a canary (shadow) with neither: 10 %, held until promoted or rolled back
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


def _strategy(value: Any) -> str | None:
    return None if value in STRATEGIES else f"must be one of {', '.join(STRATEGIES)}"


def _steps(value: Any) -> str | None:
    if (
        not isinstance(value, list)
        or not value
        or any(isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 100 for v in value)
        or value != sorted(set(value))
    ):
        return "must be a non-empty list of increasing integers from 1 to 100, e.g. [10, 50, 100]"
    return None


_ANALYSIS_CHECKS = {
    "max_failure_rate_increase": _number_range(0, 1),
    "max_p99_ratio": _number_range(1, 1000),
    "min_requests": _int_range(1, 10_000_000),
}


def _analysis(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "must be an object such as " + '{"max_failure_rate_increase": 0.05, "max_p99_ratio": 1.5}'
    unknown = sorted(set(value) - set(_ANALYSIS_CHECKS))
    if unknown:
        return f"unknown key(s): {', '.join(unknown)} (known: {', '.join(_ANALYSIS_CHECKS)})"
    bad = [f"{key} {message}" for key, item in value.items() if (message := _ANALYSIS_CHECKS[key](item))]
    return "; ".join(bad) or None


def _strategy_problems(raw: dict[str, Any], values: dict[str, Any]) -> list[str]:
    """Keys that only make sense together: weight/steps/step_seconds/analysis need canary or shadow."""
    strategy = values.get("strategy", GREEN)
    progressive_keys = [key for key in ("weight", "steps", "step_seconds", "analysis") if key in raw]
    if strategy == GREEN and progressive_keys:
        return [f"{', '.join(progressive_keys)} need strategy canary or shadow"]
    if "weight" in raw and "steps" in raw:
        return ["weight (manual) and steps (automatic) exclude each other"]
    if "steps" not in raw and any(key in raw for key in ("step_seconds", "analysis")):
        return ["step_seconds and analysis need steps"]
    return []


_CHECKS = {
    "servable_name": _servable_name,
    "target_device": _device,
    "plugin_config": _plugin_config,
    "nireq": _int_range(1, 128),
    "scheduler": _scheduler,
    "warmup": _boolean,
    "drain_seconds": _number_range(0, 3600),
    "load_timeout_seconds": _number_range(1, 3600),
    "strategy": _strategy,
    "weight": _int_range(0, 100),
    "steps": _steps,
    "step_seconds": _number_range(1, 86400),
    "analysis": _analysis,
}
