"""Prometheus metrics with OVMS's names, in prometheus_client's multiprocess mode so that any server process
answers /metrics for all of them (PROMETHEUS_MULTIPROC_DIR is set by config/settings.py)."""

import fcntl
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric

logger = logging.getLogger(__name__)

# OVMS's buckets (microseconds, 10 * 1.78^n).
TIME_BUCKETS_US = (10, 18, 32, 56, 100, 178, 316, 562, 1000, 1778, 3162, 5623, 10000, 17783, 31622, 56234,
                   100000, 177827, 316227, 562341, 1000000, 1778279, 3162277, 5623413, 10000000, 17782794,
                   31622776, 56234132, float("inf"))  # fmt: skip
REQUEST_LABELS = ("api", "interface", "method", "name", "version")

requests_success = Counter(
    "ovms_requests_success", "Number of successful requests to a model or a DAG.", REQUEST_LABELS
)
requests_fail = Counter(
    "ovms_requests_fail", "Number of failed requests to a model or a DAG.", REQUEST_LABELS
)
request_time_us = Histogram(
    "ovms_request_time_us", "Processing time of requests to a model or a DAG.", ("interface", "name", "version"),
    buckets=TIME_BUCKETS_US,
)  # fmt: skip
inference_time_us = Histogram(
    "ovms_inference_time_us", "Inference execution time in the OpenVINO backend.", ("name", "version"),
    buckets=TIME_BUCKETS_US,
)  # fmt: skip
wait_for_infer_req_time_us = Histogram(
    "ovms_wait_for_infer_req_time_us", "Request waiting time in the scheduling queue.", ("name", "version"),
    buckets=TIME_BUCKETS_US,
)  # fmt: skip
current_requests = Gauge(
    "ovms_current_requests", "Number of inference requests currently in process.", ("name", "version"),
    multiprocess_mode="livesum",
)  # fmt: skip
infer_req_queue_size = Gauge(
    "ovms_infer_req_queue_size", "Inference request queue size (nireq).", ("name", "version"),
    multiprocess_mode="livemax",
)  # fmt: skip
streams = Gauge(
    "ovms_streams", "Number of OpenVINO execution streams.", ("name", "version"), multiprocess_mode="livemax"
)

# Triton's statistics extension (inference/triton/statistics.py reads them back; /metrics leaves them out).
TRITON_PREFIX = "modelhub_triton_"
triton_stats = Counter(
    "modelhub_triton_inference", "Triton statistics: successful inferences and their times (ns), by batch size.",
    ("name", "version", "batch_size", "stat"),
)  # fmt: skip
triton_last_inference = Gauge(
    "modelhub_triton_last_inference_ms", "Triton statistics: when the last inference ended (ms since the epoch).",
    ("name", "version"), multiprocess_mode="max",
)  # fmt: skip
# stat values of triton_stats; failures have batch_size ""
SUCCESS_STATS = (
    "count",
    "success_ns",
    "queue_ns",
    "compute_input_ns",
    "compute_infer_ns",
    "compute_output_ns",
)
FAIL_STATS = ("fail_count", "fail_ns")

TFS = "TensorFlowServing"
KSERVE = "KServe"
REST = "REST"
GRPC = "gRPC"


def observe_many(histogram: Histogram, values: list[float]) -> None:
    """Observe many values with one write per bucket (prometheus_client writes two values per observe)."""
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None:  # another prometheus_client layout: one by one
        for value in values:
            histogram.observe(value)
        return
    array = np.asarray(values, dtype=np.float64)
    per_bucket = np.bincount(np.searchsorted(np.asarray(bounds), array, side="left"), minlength=len(bounds))
    for index, amount in enumerate(per_bucket.tolist()):
        if amount:
            buckets[index].inc(amount)
    total.inc(float(array.sum()))


def collect(prefix: str) -> list[Metric]:
    """The metric families of every server process whose name starts with `prefix`."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return [family for family in registry.collect() if family.name.startswith(prefix)]


def render() -> tuple[bytes, str]:
    """Prometheus text of every server process. Counters keep OVMS's names (`ovms_requests_success`, where
    prometheus_client would write `ovms_requests_success_total`)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    parts = []
    for family in sorted(registry.collect(), key=lambda f: f.name):
        if family.name.startswith(TRITON_PREFIX):
            continue
        if family.type == "counter":
            parts.append(_counter_text(family))
        else:
            parts.append(generate_latest(_Single(family)))
    return b"".join(parts), CONTENT_TYPE_LATEST


class _Single:
    def __init__(self, family: Metric) -> None:
        self.family = family

    def collect(self) -> list[Metric]:
        return [self.family]


def _counter_text(family: Metric) -> bytes:
    name = family.name.removesuffix("_total")
    lines = [f"# HELP {name} {family.documentation}", f"# TYPE {name} counter"]
    for sample in sorted(family.samples, key=lambda s: sorted(s.labels.items())):
        if sample.name.endswith("_created"):
            continue
        labels = ",".join(f'{key}="{_escape(value)}"' for key, value in sorted(sample.labels.items()))
        value = int(sample.value) if float(sample.value).is_integer() else sample.value
        lines.append(f"{name}{{{labels}}} {value}")
    return ("\n".join(lines) + "\n").encode()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def prepare_directory() -> None:
    """Empty the metrics folder when no other live server process on this host uses it (a fresh start)."""
    folder = Path(settings.INFERENCE_METRICS_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".owners", "a+") as owners:
        fcntl.flock(owners, fcntl.LOCK_EX)
        owners.seek(0)
        alive = [pid for pid in _pids(owners.read()) if pid != os.getpid() and _alive(pid)]
        if not alive:
            for stale in folder.glob("*.db"):
                stale.unlink(missing_ok=True)
        owners.seek(0)
        owners.truncate()
        owners.write("".join(f"{pid}\n" for pid in [*alive, os.getpid()]))


def process_exiting() -> None:
    try:
        multiprocess.mark_process_dead(os.getpid())
    except OSError:
        logger.debug("Could not clean the live gauges of this process", exc_info=True)


def _pids(text: str) -> list[int]:
    return [int(line) for line in text.split() if line.isdigit()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class VersionMetrics:
    """Counts and timings of one version. The request path only appends to lists (~50 ns); `flush`, run on the
    serving loop twice a second and before /metrics answers, writes them to the file-backed multiprocess
    metrics in bulk (each such write costs microseconds, and a request makes nine of them)."""

    def __init__(self, name: str, version: int, *, batching: bool = False) -> None:
        v = str(version)
        self.name = name
        self.version = v
        self.batching = batching  # the first dimension is the batch (Triton's max_batch_size > 0)
        self.request_time = request_time_us.labels(REST, name, v)
        self.grpc_request_time = request_time_us.labels(GRPC, name, v)
        self.inference_time = inference_time_us.labels(name, v)
        self.wait_time = wait_for_infer_req_time_us.labels(name, v)
        self.current_requests = current_requests.labels(name, v)
        self.queue_size = infer_req_queue_size.labels(name, v)
        self.streams = streams.labels(name, v)
        self.current = 0
        self.last: tuple[float, float] = (0.0, 0.0)  # (wait, inference) us of the inference that ended last
        # Successful inferences: (batch, started, inferring, returned, ended, (wait us, inference us)), the
        # middle four perf_counter() seconds; failures: seconds from start to failure.
        self.done: list[tuple[int, float, float, float, float, tuple[float, float]]] = []
        self.grpc_done: list[
            tuple[int, float, float, float, float, tuple[float, float]]
        ] = []  # the same, gRPC
        self.failed: list[float] = []
        # generative requests (/v3, inference/genai/metrics.py): tokens generated, time to first token
        self.tokens = 0
        self.first_token_us: list[float] = []
        self.counts: dict[tuple[str, str, bool, str], int] = {}
        self._counters: dict[tuple[str, str, bool, str], Any] = {}
        _all_metrics.append(self)

    def count(self, api: str, method: str, ok: bool, interface: str = REST) -> None:
        key = (api, method, ok, interface)
        self.counts[key] = self.counts.get(key, 0) + 1

    def flush(self) -> None:
        from inference import traffic  # not at the top: it needs the Django models, loaded after this module

        counts, self.counts = self.counts, {}
        done, grpc_done, failed = self.done, self.grpc_done, self.failed
        rest_us = [(item[4] - item[1]) * 1e6 for item in done]
        grpc_us = [(item[4] - item[1]) * 1e6 for item in grpc_done]
        # the operator console's per-process tally
        tokens, self.tokens = self.tokens, 0
        first_token_us, self.first_token_us = self.first_token_us, []
        traffic.record(
            self.name, self.version, counts, rest_us + grpc_us, tokens=tokens, first_token_us=first_token_us
        )
        for key, amount in counts.items():
            counter = self._counters.get(key)
            if counter is None:
                family = requests_success if key[2] else requests_fail
                counter = self._counters[key] = family.labels(key[0], key[3], key[1], self.name, self.version)
            counter.inc(amount)
        for request_us, histogram in ((rest_us, self.request_time), (grpc_us, self.grpc_request_time)):
            if request_us:
                observe_many(histogram, request_us)
        if grpc_done:
            self.grpc_done = []
            done = done + grpc_done
        if done:
            self.done = []
            observe_many(self.wait_time, [item[5][0] for item in done])
            observe_many(self.inference_time, [item[5][1] for item in done])
            self._flush_triton(done)
        if failed:
            self.failed = []
            triton_stats.labels(self.name, self.version, "", "fail_count").inc(len(failed))
            triton_stats.labels(self.name, self.version, "", "fail_ns").inc(sum(failed) * 1e9)
        self.current_requests.set(self.current)

    def _flush_triton(self, done: list[tuple[int, float, float, float, float, tuple[float, float]]]) -> None:
        totals: dict[int, list[float]] = {}
        for batch, started, inferring, returned, ended, (wait_us, infer_us) in done:
            entry = totals.get(batch)
            if entry is None:
                entry = totals[batch] = [0.0] * len(SUCCESS_STATS)
            entry[0] += 1
            entry[1] += ended - started
            entry[2] += wait_us * 1e-6
            entry[3] += inferring - started
            entry[4] += infer_us * 1e-6
            # what is neither input, queue nor inference: the output and the hand-over from OpenVINO's thread
            entry[5] += max(ended - returned, 0.0)
        for batch, values in totals.items():
            for stat, value in zip(SUCCESS_STATS, values, strict=True):
                triton_stats.labels(self.name, self.version, str(batch), stat).inc(
                    value if stat == "count" else value * 1e9
                )
        ended_ago = time.perf_counter() - max(item[4] for item in done)
        triton_last_inference.labels(self.name, self.version).set(int((time.time() - ended_ago) * 1000))


_all_metrics: list[VersionMetrics] = []


def flush_metrics() -> None:
    for version_metrics in list(_all_metrics):
        version_metrics.flush()
