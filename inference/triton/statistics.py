"""Triton's statistics extension: per model version, success/fail counts and cumulative times, summed over
every server process of this node (prometheus_client's multiprocess files, written by
inference.metrics.VersionMetrics.flush twice a second)."""

from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Protocol

from inference import metrics
from inference.protocols import errors

_TIMED = ("queue", "compute_input", "compute_infer", "compute_output")


class _View(Protocol):  # inference.runtime.ServableView
    def available_versions(self) -> list[int]: ...
    def resolve(self, version: int | None) -> Any: ...


def selected_versions(
    servables: Mapping[str, _View], name: str = "", version: int | None = None
) -> list[tuple[str, int]]:
    """The (model, version) pairs a statistics request covers: every available version of every model, of
    one model, or one version; OVMS's 404s for an unknown model or version."""
    if not name:
        return [(n, v) for n in sorted(servables) for v in servables[n].available_versions()]
    view = servables.get(name)
    if view is None:
        raise errors.MODEL_NAME_MISSING
    if version is not None:
        return [(name, view.resolve(version).version)]
    versions = view.available_versions()
    if not versions:
        view.resolve(None)  # raises the reason (not loaded yet, retired)
    return [(name, v) for v in versions]


def read_totals() -> dict[tuple[str, str], dict[str, Any]]:
    """Every process's Triton counters: (name, version) -> {"batches": {size: {stat: value}}, "fail": {...},
    "last_inference": ms}. Reads files: call it off the event loop."""
    totals: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {
            "batches": defaultdict(lambda: defaultdict(float)),
            "fail": defaultdict(float),
            "last_inference": 0,
        }
    )
    for family in metrics.collect(metrics.TRITON_PREFIX):
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            key = (sample.labels["name"], sample.labels["version"])
            if family.name == "modelhub_triton_last_inference_ms":
                totals[key]["last_inference"] = max(totals[key]["last_inference"], int(sample.value))
                continue
            stat, batch = sample.labels["stat"], sample.labels["batch_size"]
            if batch:
                totals[key]["batches"][int(batch)][stat] += sample.value
            else:
                totals[key]["fail"][stat] += sample.value
    return totals


def model_statistics(
    versions: list[tuple[str, int]], totals: Mapping[tuple[str, str], Mapping[str, Any]]
) -> dict[str, Any]:
    """Triton's statistics response ({"model_stats": [...]}) for the given versions."""
    return {
        "model_stats": [
            _version_stats(name, version, totals.get((name, str(version)))) for name, version in versions
        ]
    }


def _duration(count: float, ns: float) -> dict[str, int]:
    return {"count": int(count), "ns": int(ns)}


def _version_stats(name: str, version: int, totals: Mapping[str, Any] | None) -> dict[str, Any]:
    batches: Mapping[int, Mapping[str, float]] = totals["batches"] if totals else {}
    fail: Mapping[str, float] = totals["fail"] if totals else {}
    summed: dict[str, float] = defaultdict(float)
    for values in batches.values():
        for stat, value in values.items():
            summed[stat] += value
    count = summed["count"]
    return {
        "name": name,
        "version": str(version),
        "last_inference": int(totals["last_inference"]) if totals else 0,
        "inference_count": int(sum(size * values.get("count", 0) for size, values in batches.items())),
        "execution_count": int(count),
        "inference_stats": {
            "success": _duration(count, summed["success_ns"]),
            "fail": _duration(fail.get("fail_count", 0), fail.get("fail_ns", 0)),
            **{stat: _duration(count, summed[f"{stat}_ns"]) for stat in _TIMED},
            "cache_hit": _duration(0, 0),
            "cache_miss": _duration(0, 0),
        },
        "response_stats": {},
        "batch_stats": [
            {
                "batch_size": size,
                **{
                    stat: _duration(values.get("count", 0), values.get(f"{stat}_ns", 0))
                    for stat in _TIMED[1:]
                },
            }
            for size, values in sorted(batches.items())
        ],
        "memory_usage": [],
    }
