"""Per-model metrics of generative and embedding requests, beside OVMS's request counters (inference/metrics.py).

Request counts and latencies go through the version's `VersionMetrics` (so /metrics, Triton's statistics and the
console's traffic samples see /v3 traffic as they see every other protocol); tokens, time to first token and time
per output token are histograms of their own.
"""

import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

API = "V3"
LABELS = ("name", "version")
# milliseconds, from 1 ms to 100 s
_MS_BUCKETS = (
    1,
    2,
    5,
    10,
    20,
    50,
    100,
    200,
    500,
    1000,
    2000,
    5000,
    10000,
    20000,
    50000,
    100000,
    float("inf"),
)

prompt_tokens_total = Counter("modelhub_llm_prompt_tokens", "Tokens read from prompts and inputs.", LABELS)
generated_tokens_total = Counter("modelhub_llm_generated_tokens", "Tokens generated.", LABELS)
time_to_first_token_ms = Histogram(
    "modelhub_llm_time_to_first_token_ms", "Time from request to the first generated token.", LABELS,
    buckets=_MS_BUCKETS,
)  # fmt: skip
time_per_output_token_ms = Histogram(
    "modelhub_llm_time_per_output_token_ms", "Mean time between generated tokens after the first, per request.",
    LABELS, buckets=(0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, float("inf")),
)  # fmt: skip

requests_in_flight = Gauge(
    "modelhub_llm_requests_in_flight", "Generative and embedding requests being answered.", LABELS,
    multiprocess_mode="livesum",
)  # fmt: skip


def count_refusal(version: Any, method: str, started: float) -> None:
    """A request refused before the model took it, counted as failed (OVMS's ovms_requests_fail)."""
    stats = version.metrics
    if stats is not None:
        stats.count(API, method, False)
        stats.failed.append(time.perf_counter() - started)


class Recorder:
    """Counts one /v3 request when it ends."""

    def __init__(self, version: Any, method: str, started: float, prompt_tokens: int) -> None:
        self.version = version
        self.method = method
        self.started = started
        self.prompt_tokens = prompt_tokens
        self._done = False
        self._in_flight = requests_in_flight.labels(version.name, str(version.version))
        self._in_flight.inc()

    def succeeded(self, generation: Any, completion_tokens: int) -> None:
        if self._done:
            return
        self._done = True
        self._in_flight.dec()
        ended = time.perf_counter()
        stats = self.version.metrics
        name, number = self.version.name, str(self.version.version)
        if stats is not None:
            stats.count(API, self.method, True)
            elapsed_us = (ended - self.started) * 1e6
            stats.done.append((1, self.started, self.started, ended, ended, (0.0, elapsed_us)))
        if self.prompt_tokens:
            prompt_tokens_total.labels(name, number).inc(self.prompt_tokens)
        if completion_tokens:
            generated_tokens_total.labels(name, number).inc(completion_tokens)
        first = getattr(generation, "first_token_at", None)
        if stats is not None:
            stats.tokens += completion_tokens
            if first is not None:
                stats.first_token_us.append((first - self.started) * 1e6)
        if first is not None:
            time_to_first_token_ms.labels(name, number).observe((first - self.started) * 1e3)
            if completion_tokens > 1:
                time_per_output_token_ms.labels(name, number).observe(
                    (ended - first) * 1e3 / (completion_tokens - 1)
                )

    def failed(self, *, cancelled: bool = False) -> None:
        if self._done:
            return
        self._done = True
        self._in_flight.dec()
        stats = self.version.metrics
        if stats is not None:
            stats.count(API, self.method, False)
            stats.failed.append(time.perf_counter() - self.started)
