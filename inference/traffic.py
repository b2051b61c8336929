"""Inference traffic per servable version, kept for an hour in the database so every process and replica counts.

The request path does nothing new: `VersionMetrics.flush` (inference/runtime.py, twice a second on the serving
loop) hands the counts and latencies it already collected to `record`, which adds them to this process's
in-memory tally (a few numpy operations per version). A thread writes the tally as `TrafficSample` rows every
`TRAFFIC_SECONDS` and prunes rows older than `TRAFFIC_KEEP_SECONDS`. `traffic_series` (read by the operator
console) adds the rows of all processes up per minute: requests/s, failures/s and latency percentiles from the
summed histograms.
"""

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.utils import timezone

from inference.metrics import TIME_BUCKETS_US
from inference.models import TrafficSample

logger = logging.getLogger(__name__)

# Methods that are inferences (REST and gRPC name them alike); metadata and readiness calls are not traffic.
INFERENCE_METHODS = frozenset(
    {"Predict", "ModelInfer", "ChatCompletions", "Completions", "Embeddings", "Rerank"}
)
_BOUNDS = np.asarray(TIME_BUCKETS_US, dtype=np.float64)


@dataclass
class _Tally:
    requests: int = 0
    failures: int = 0
    buckets: np.ndarray = field(default_factory=lambda: np.zeros(len(TIME_BUCKETS_US), dtype=np.int64))
    latency_sum_us: float = 0.0
    # generative models (/v3): tokens generated, and time to first token per request
    tokens: int = 0
    first_token: np.ndarray = field(default_factory=lambda: np.zeros(len(TIME_BUCKETS_US), dtype=np.int64))


_lock = threading.Lock()
_tallies: dict[tuple[str, int], _Tally] = {}
_since = time.time()


def record(
    name: str,
    version: str | int,
    counts: dict[tuple[Any, ...], int],
    latencies_us: list[float],
    *,
    tokens: int = 0,
    first_token_us: list[float] | None = None,
) -> None:
    """Add one metrics flush of a version to this process's tally (called on the serving loop).

    counts: VersionMetrics.counts, keyed (api, method, ok, ...); latencies_us: its successful requests' times;
    tokens and first_token_us: what generative requests produced, and how long each waited for its first token.
    """
    requests = failures = 0
    for (_api, method, ok, *_), amount in counts.items():
        if method in INFERENCE_METHODS:
            requests += amount
            failures += 0 if ok else amount
    if not requests and not latencies_us and not tokens:
        return
    with _lock:
        tally = _tallies.setdefault((name, int(version)), _Tally())
        tally.requests += requests
        tally.failures += failures
        tally.tokens += tokens
        if first_token_us:
            tally.first_token += _histogram(first_token_us)
        if latencies_us:
            tally.buckets += _histogram(latencies_us)
            tally.latency_sum_us += float(sum(latencies_us))


def _histogram(values_us: list[float]) -> np.ndarray:
    values = np.asarray(values_us, dtype=np.float64)
    return np.bincount(np.searchsorted(_BOUNDS, values, side="left"), minlength=len(_BOUNDS))


def write(process_id: str, *, now: float | None = None) -> int:
    """Store this process's tally since the last write as TrafficSample rows; returns the number of rows."""
    global _since
    now = time.time() if now is None else now
    with _lock:
        tallies = dict(_tallies)
        _tallies.clear()
        since, _since = _since, now
    if not tallies:
        return 0
    started = datetime.fromtimestamp(since, tz=UTC)
    try:
        _store(process_id, started, now - since, tallies)
    except Exception:
        _put_back(tallies, since)  # the database is away: keep counting, store it all next time
        raise
    return len(tallies)


def _put_back(tallies: dict[tuple[str, int], _Tally], since: float) -> None:
    global _since
    with _lock:
        for key, old in tallies.items():
            tally = _tallies.setdefault(key, _Tally())
            tally.requests += old.requests
            tally.failures += old.failures
            tally.buckets += old.buckets
            tally.latency_sum_us += old.latency_sum_us
            tally.tokens += old.tokens
            tally.first_token += old.first_token
        _since = since


def _store(
    process_id: str, started: datetime, seconds: float, tallies: dict[tuple[str, int], _Tally]
) -> None:
    TrafficSample.objects.bulk_create(
        TrafficSample(
            process_id=process_id, servable_name=name, version=version, started_at=started,
            seconds=max(seconds, 0.001), requests=tally.requests, failures=tally.failures,
            latency_buckets=tally.buckets.tolist(), latency_sum_us=tally.latency_sum_us,
            generated_tokens=tally.tokens,
            first_token_buckets=tally.first_token.tolist() if tally.first_token.any() else [],
        )
        for (name, version), tally in tallies.items()
    )  # fmt: skip


def prune(*, keep_seconds: float | None = None) -> int:
    keep = settings.TRAFFIC_KEEP_SECONDS if keep_seconds is None else keep_seconds
    deleted, _ = TrafficSample.objects.filter(
        started_at__lt=timezone.now() - timedelta(seconds=keep)
    ).delete()
    return deleted


class _Writer:
    """The thread of one server process that writes its tally every TRAFFIC_SECONDS."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def run(self) -> None:
        from inference.runtime import get_runtime

        process_id = get_runtime().process_id
        ticks = 0
        try:
            while not self.stop.wait(settings.TRAFFIC_SECONDS):
                try:
                    write(process_id)
                    if ticks % 30 == 0:
                        prune()
                except Exception:
                    logger.exception("Could not store inference traffic")
                    connection.close()
                ticks += 1
            write(process_id)
        except Exception:
            logger.exception("Could not store the last inference traffic")
        finally:
            connection.close()


_writer = _Writer()


def startup() -> None:
    """ASGI lifespan hook (settings.ASGI_STARTUP_HOOKS), after the runtime's."""
    global _since
    if _writer.thread is not None:
        return
    _since = time.time()
    _writer.stop.clear()
    _writer.thread = threading.Thread(target=_writer.run, name="inference-traffic", daemon=True)
    _writer.thread.start()


def shutdown() -> None:
    """ASGI lifespan hook, after the runtime's last metrics flush: store what is left."""
    if _writer.thread is None:
        return
    _writer.stop.set()
    _writer.thread.join(10)
    _writer.thread = None


# --- reading ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrafficPoint:
    at: datetime  # start of the step
    requests_per_second: float
    failures_per_second: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    tokens_per_second: float = 0.0  # generative models only
    first_token_p50_ms: float | None = None
    first_token_p95_ms: float | None = None
    first_token_p99_ms: float | None = None


def percentile_us(buckets: Iterable[int], quantile: float) -> float | None:
    """A quantile from bucket counts (upper bounds TIME_BUCKETS_US), interpolated inside the bucket as
    Prometheus' histogram_quantile does; None without observations."""
    counts = list(buckets)
    total = sum(counts)
    if total <= 0:
        return None
    rank = quantile * total
    seen = 0.0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            upper = TIME_BUCKETS_US[index]
            lower = TIME_BUCKETS_US[index - 1] if index > 0 else 0.0
            if upper == float("inf"):
                return float(lower)
            return float(lower + (upper - lower) * (rank - seen) / count)
        seen += count
    return float(TIME_BUCKETS_US[-2])


def traffic_series(
    name: str, *, minutes: int = 60, step_seconds: int = 60, now: datetime | None = None
) -> dict[int, list[TrafficPoint]]:
    """Per version of a servable: one point per step over the last `minutes`, summed over every process."""
    now = now or timezone.now()
    steps = max(1, minutes * 60 // step_seconds)
    window = steps * step_seconds
    rows = list(
        TrafficSample.objects.filter(
            servable_name=name, started_at__gte=now - timedelta(seconds=window + settings.TRAFFIC_SECONDS * 2)
        ).values_list(
            "version",
            "started_at",
            "seconds",
            "requests",
            "failures",
            "latency_buckets",
            "generated_tokens",
            "first_token_buckets",
        )
    )
    # The series ends where the newest stored row ends (rows arrive every TRAFFIC_SECONDS), so the last step
    # is a whole step of data rather than a step still being written.
    newest = max((started.timestamp() + seconds for _, started, seconds, *_ in rows), default=now.timestamp())
    end = min(now.timestamp(), newest) + 1e-6
    start = end - window
    per_version: dict[int, dict[str, np.ndarray]] = {}
    for version, started_at, seconds, requests, failures, buckets, tokens, first_token in rows:
        # A row covers [started_at, started_at + seconds]; it counts in the step where it ends.
        ended = started_at.timestamp() + seconds
        index = int((ended - start) // step_seconds)
        if index < 0 or index >= steps:
            continue
        sums = per_version.setdefault(
            version,
            {
                "requests": np.zeros(steps),
                "failures": np.zeros(steps),
                "buckets": np.zeros((steps, len(TIME_BUCKETS_US)), dtype=np.int64),
                "tokens": np.zeros(steps),
                "first_token": np.zeros((steps, len(TIME_BUCKETS_US)), dtype=np.int64),
            },
        )
        sums["requests"][index] += requests
        sums["failures"][index] += failures
        sums["tokens"][index] += tokens
        if first_token:
            sums["first_token"][index, : len(first_token)] += np.asarray(
                first_token[: len(TIME_BUCKETS_US)], dtype=np.int64
            )
        if buckets:
            sums["buckets"][index, : len(buckets)] += np.asarray(
                buckets[: len(TIME_BUCKETS_US)], dtype=np.int64
            )
    series: dict[int, list[TrafficPoint]] = {}
    for version, sums in sorted(per_version.items()):
        points = []
        for index in range(steps):
            histogram = sums["buckets"][index].tolist()
            first_tokens = sums["first_token"][index].tolist()
            points.append(
                TrafficPoint(
                    at=datetime.fromtimestamp(start + index * step_seconds, tz=UTC),
                    requests_per_second=float(sums["requests"][index]) / step_seconds,
                    failures_per_second=float(sums["failures"][index]) / step_seconds,
                    p50_ms=_ms(percentile_us(histogram, 0.50)),
                    p95_ms=_ms(percentile_us(histogram, 0.95)),
                    p99_ms=_ms(percentile_us(histogram, 0.99)),
                    tokens_per_second=float(sums["tokens"][index]) / step_seconds,
                    first_token_p50_ms=_ms(percentile_us(first_tokens, 0.50)),
                    first_token_p95_ms=_ms(percentile_us(first_tokens, 0.95)),
                    first_token_p99_ms=_ms(percentile_us(first_tokens, 0.99)),
                )
            )
        series[version] = points
    return series


def _ms(value_us: float | None) -> float | None:
    return None if value_us is None else value_us / 1000.0


def traffic_recent(
    name: str, *, seconds: float | None = None, now: datetime | None = None
) -> dict[int, TrafficPoint]:
    """Per version: the rates and latencies of the last `seconds` of stored rows (default: two write periods,
    at least 10 s), summed over every process; what "now" means on the console, next to per-minute charts."""
    now = now or timezone.now()
    window = seconds if seconds is not None else max(2 * settings.TRAFFIC_SECONDS, 10.0)
    rows = list(
        TrafficSample.objects.filter(
            servable_name=name, started_at__gte=now - timedelta(seconds=window + settings.TRAFFIC_SECONDS * 2)
        ).values_list("version", "started_at", "seconds", "requests", "failures", "latency_buckets")
    )
    newest = max((started.timestamp() + length for _, started, length, *_ in rows), default=now.timestamp())
    since = newest - window - 1e-6
    sums: dict[int, list[Any]] = {}
    for version, started_at, length, requests, failures, buckets in rows:
        if started_at.timestamp() + length <= since:
            continue
        total = sums.setdefault(version, [0, 0, np.zeros(len(TIME_BUCKETS_US), dtype=np.int64)])
        total[0] += requests
        total[1] += failures
        if buckets:
            total[2][: len(buckets)] += np.asarray(buckets[: len(TIME_BUCKETS_US)], dtype=np.int64)
    at = datetime.fromtimestamp(since, tz=UTC)
    return {
        version: TrafficPoint(
            at=at, requests_per_second=requests / window, failures_per_second=failures / window,
            p50_ms=_ms(percentile_us(histogram.tolist(), 0.50)), p95_ms=_ms(percentile_us(histogram.tolist(), 0.95)),
            p99_ms=_ms(percentile_us(histogram.tolist(), 0.99)),
        )
        for version, (requests, failures, histogram) in sorted(sums.items())
    }  # fmt: skip
