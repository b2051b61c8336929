"""The OpenVINO properties a request may set (`plugin_config` of POST /deploy, of serving through the API, of the
Servable admin): an allow-list with checked values.

compile_model takes any property, and some act on the host rather than the model: CACHE_DIR makes OpenVINO create
and write any directory the service user can write, WEIGHTS_PATH reads a file, and thread and stream counts far
beyond the machine's cores starve it. So a request may only tune how the model runs, within the machine's means;
paths are never taken from a request. The operator's own config file (MODEL_CONFIG_PATH, OVMS's format) is not a
request and keeps OVMS's freedom.
"""

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

logger = logging.getLogger(__name__)

Value = str | int | float | bool
Check = Callable[[Any], Value | None]  # the normalized value, or None when it is not acceptable


def _choice(*choices: str) -> Check:
    def check(value: Any) -> Value | None:
        if isinstance(value, str) and value.upper() in {c.upper() for c in choices}:
            return next(c for c in choices if c.upper() == value.upper())
        return None

    check.__doc__ = " | ".join(choices)
    return check


def _integer(low: int, high: Callable[[], int], *words: str) -> Check:
    def check(value: Any) -> Value | None:
        if isinstance(value, str) and value.upper() in words:
            return value.upper()
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high():
            return value
        return None

    check.__doc__ = " | ".join([*words, f"an integer from {low} to {{high}}"])
    check.high = high  # type: ignore[attr-defined]
    return check


def _boolean(value: Any) -> Value | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.upper() in {"YES", "NO", "TRUE", "FALSE"}:
        return value.upper() in {"YES", "TRUE"}
    return None


_boolean.__doc__ = "true | false (or YES | NO)"


def cores() -> int:
    return os.cpu_count() or 1


ALLOWED: dict[str, Check] = {
    "PERFORMANCE_HINT": _choice("LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT"),
    "PERFORMANCE_HINT_NUM_REQUESTS": _integer(0, lambda: 1024),
    "NUM_STREAMS": _integer(1, cores, "AUTO", "NUMA"),
    "INFERENCE_NUM_THREADS": _integer(0, cores),
    "INFERENCE_PRECISION_HINT": _choice("f32", "f16", "bf16"),
    "EXECUTION_MODE_HINT": _choice("PERFORMANCE", "ACCURACY"),
    "ENABLE_CPU_PINNING": _boolean,
    "ENABLE_HYPER_THREADING": _boolean,
    "SCHEDULING_CORE_TYPE": _choice("ANY_CORE", "PCORE_ONLY", "ECORE_ONLY"),
    "DYNAMIC_QUANTIZATION_GROUP_SIZE": _integer(0, lambda: 4096),
    "KV_CACHE_PRECISION": _choice("f32", "f16", "bf16", "u8"),
}


def accepted_values(name: str) -> str:
    check = ALLOWED[name]
    text = check.__doc__ or ""
    return text.replace("{high}", str(check.high())) if hasattr(check, "high") else text


class PluginConfigInvalid(ValueError):
    """The problems, one per property, in words a client can act on."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def checked(raw: Any) -> dict[str, Value]:
    """`raw` with every property checked and its value normalized; PluginConfigInvalid names each problem."""
    if not isinstance(raw, Mapping):
        raise PluginConfigInvalid(['must be an object such as {"PERFORMANCE_HINT": "LATENCY"}'])
    problems: list[str] = []
    result: dict[str, Value] = {}
    for name, value in raw.items():
        check = ALLOWED.get(name) if isinstance(name, str) else None
        if check is None:
            problems.append(
                f"{name!s} is not a property a request may set (allowed: {', '.join(sorted(ALLOWED))})"
            )
            continue
        normalized = check(value)
        if normalized is None:
            problems.append(f"{name} must be {accepted_values(name)}, not {value!r}"[:300])
        else:
            result[name] = normalized
    if problems:
        raise PluginConfigInvalid(problems)
    return result


_warned: set[tuple[str, str]] = set()


def allowed_only(raw: Any, *, servable: str) -> dict[str, Value]:
    """For rows stored before the allow-list (or written around it): what may be used; the rest is logged once."""
    if not isinstance(raw, Mapping):
        return {}
    result: dict[str, Value] = {}
    for name, value in raw.items():
        check = ALLOWED.get(name) if isinstance(name, str) else None
        normalized = check(value) if check is not None else None
        if normalized is None:
            if (servable, str(name)) not in _warned:
                _warned.add((servable, str(name)))
                logger.warning(
                    "Servable %s: ignoring plugin_config %s=%r (not allowed)", servable, name, value
                )
        else:
            result[name] = normalized
    return result
