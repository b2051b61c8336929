"""What every benchmark script prints the same way: the machine's load, the common measurement options, the
requests/s table, and the targets as ratios measured in the same rounds (machines are shared and noisy, so only
ratios within one run are compared, never absolute times)."""

import argparse
import os
import statistics
from typing import Any


def measurement_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of one measurement")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (median kept)")
    parser.add_argument("--connections", type=int, default=8)


def machine_load() -> float:
    """Print and return the 1-minute load average: above 0.7 a core is already partly taken."""
    load = os.getloadavg()[0]
    print(
        f"Load average {load:.2f} on {os.cpu_count()} cores"
        + ("  (busy machine: figures will be noisy)" if load > 0.7 else "")
    )
    return load


def paired(model: dict[str, Any], top: str, bottom: str, field: str = "rps") -> list[float]:
    """top/bottom of each round (both measured in the same round)."""
    rounds = model["rounds"]
    return [a[field] / b[field] for a, b in zip(rounds[top], rounds[bottom], strict=True)]


def median_ratio(model: dict[str, Any], top: str, bottom: str) -> float:
    """The median of the per-round ratios."""
    return statistics.median(paired(model, top, bottom))


def rate_table(results: dict[str, Any], columns: dict[str, str]) -> None:
    """Requests/s and p99 of each side (`columns`: key -> heading), one row per model."""
    print("\nRequests/s (median of rounds), p99 latency:")
    print(f"{'model':10} {'limit':>9} " + " ".join(f"{heading:>20}" for heading in columns.values()))
    for name, values in results["models"].items():
        cells = [f"{values['limit']['rps']:9.0f}"]
        for key in columns:
            cells.append(
                f"{values[key]['rps']:10.0f} ({values[key]['p99_ms']:5.1f} ms)"
                if key in values
                else f"{'-':>20}"
            )
        print(f"{name:10} " + " ".join(cells))


def judge(results: dict[str, Any], checks: list[tuple[str, list[float], float]]) -> None:
    """Print each target (text, per-round ratios, target ratio) as PASS/FAIL and keep it in `results`. A p99
    target passes only strictly above its ratio."""
    print("\nTargets (median of the per-round ratios, and their range):")
    results["targets"] = []
    for text, rounds, target in checks:
        ratio = statistics.median(rounds)
        ok = ratio > target if "p99" in text else ratio >= target
        results["targets"].append(
            {"target": text, "ratio": round(ratio, 2), "rounds": [round(r, 3) for r in rounds], "pass": ok}
        )
        spread = f"{min(rounds):.2f}-{max(rounds):.2f}"
        print(f"  {'PASS' if ok else 'FAIL'}  {ratio:5.2f}  ({spread:>9})  {text}")
