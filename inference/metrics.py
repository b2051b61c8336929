"""Prometheus metrics with OVMS's names, in prometheus_client's multiprocess mode so that any server process
answers /metrics for all of them (PROMETHEUS_MULTIPROC_DIR is set by config/settings.py)."""

import fcntl
import logging
import os
from pathlib import Path

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


def render() -> tuple[bytes, str]:
    """Prometheus text of every server process. Counters keep OVMS's names (`ovms_requests_success`, where
    prometheus_client would write `ovms_requests_success_total`)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    parts = []
    for family in sorted(registry.collect(), key=lambda f: f.name):
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
