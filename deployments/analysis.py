"""Automatic analysis of a canary or shadow step: is the candidate worse than the stable version?

The figures come from the traffic samples every server process on every node stores (inference/traffic.py):
requests, failures and a latency histogram per version. `judge` is a plain function of those figures and the
thresholds, so the decision is unit-tested without a server; `figures_between` reads the samples.
"""

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np

from inference.metrics import TIME_BUCKETS_US
from inference.models import TrafficSample
from inference.traffic import percentile_us

PASS, FAIL, WAIT = "pass", "fail", "wait"


@dataclass(frozen=True)
class Figures:
    """One version's traffic over a window, summed over every process."""

    requests: int = 0
    failures: int = 0
    p99_ms: float | None = None
    p50_ms: float | None = None

    @property
    def failure_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "failure_rate": round(self.failure_rate, 4)}


@dataclass(frozen=True)
class Verdict:
    outcome: str  # PASS, FAIL or WAIT (not enough candidate requests yet)
    reason: str
    candidate: Figures
    stable: Figures

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "candidate": self.candidate.as_dict(),
            "stable": self.stable.as_dict(),
        }


def judge(*, candidate: Figures, stable: Figures, thresholds: dict[str, Any]) -> Verdict:
    """Fail on a failure rate or p99 worse than allowed; wait until the candidate has `min_requests`."""
    minimum = int(thresholds["min_requests"])
    if candidate.requests < minimum:
        return Verdict(
            WAIT,
            f"the candidate answered {candidate.requests} of the {minimum} requests needed",
            candidate,
            stable,
        )
    increase = candidate.failure_rate - stable.failure_rate
    allowed = float(thresholds["max_failure_rate_increase"])
    if increase > allowed:
        return Verdict(
            FAIL,
            f"failure rate {candidate.failure_rate:.1%} ({candidate.failures}/{candidate.requests}) against "
            f"{stable.failure_rate:.1%} for the stable version: +{increase:.1%} > +{allowed:.1%} allowed",
            candidate,
            stable,
        )
    ratio_allowed = float(thresholds["max_p99_ratio"])
    if candidate.p99_ms is not None and stable.p99_ms:
        ratio = candidate.p99_ms / stable.p99_ms
        if ratio > ratio_allowed:
            return Verdict(
                FAIL,
                f"p99 {candidate.p99_ms:.2f} ms against {stable.p99_ms:.2f} ms for the stable version: "
                f"{ratio:.2f}x > {ratio_allowed:g}x allowed",
                candidate,
                stable,
            )
    p99 = (
        "no p99 to compare"
        if candidate.p99_ms is None or not stable.p99_ms
        else (f"p99 {candidate.p99_ms:.2f} ms vs {stable.p99_ms:.2f} ms")
    )
    return Verdict(
        PASS,
        f"failure rate {candidate.failure_rate:.1%} vs {stable.failure_rate:.1%}, {p99}, "
        f"{candidate.requests} candidate requests",
        candidate,
        stable,
    )


def figures_between(name: str, *, since: datetime, until: datetime | None = None) -> dict[int, Figures]:
    """Per version of `name`: the samples that ended after `since` (and started before `until`)."""
    rows = TrafficSample.objects.filter(servable_name=name, started_at__gte=since - _longest_sample())
    if until is not None:
        rows = rows.filter(started_at__lt=until)
    sums: dict[int, list[Any]] = {}
    for version, started_at, seconds, requests, failures, buckets in rows.values_list(
        "version", "started_at", "seconds", "requests", "failures", "latency_buckets"
    ):
        if started_at.timestamp() + seconds <= since.timestamp():
            continue
        total = sums.setdefault(version, [0, 0, np.zeros(len(TIME_BUCKETS_US), dtype=np.int64)])
        total[0] += requests
        total[1] += failures
        if buckets:
            total[2][: len(buckets)] += np.asarray(buckets[: len(TIME_BUCKETS_US)], dtype=np.int64)
    return {
        version: Figures(
            requests=requests,
            failures=failures,
            p99_ms=_ms(percentile_us(histogram.tolist(), 0.99)),
            p50_ms=_ms(percentile_us(histogram.tolist(), 0.50)),
        )
        for version, (requests, failures, histogram) in sums.items()
    }


def _longest_sample() -> Any:
    from datetime import timedelta

    from django.conf import settings

    return timedelta(seconds=2 * settings.TRAFFIC_SECONDS)


def _ms(value_us: float | None) -> float | None:
    return None if value_us is None else round(value_us / 1000.0, 3)
