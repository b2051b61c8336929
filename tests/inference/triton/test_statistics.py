"""Triton statistics: what VersionMetrics writes to the multiprocess files, summed over processes."""

import os
import subprocess
import sys
import time

import pytest

from inference import metrics
from inference.metrics import VersionMetrics
from inference.protocols.errors import InferenceError
from inference.runtime import AVAILABLE, LOADING, LoadedVersion, ServableView
from inference.triton.statistics import model_statistics, read_totals, selected_versions
from tests.live import ROOT

CHILD = """
import django, time
django.setup()
from inference.metrics import VersionMetrics
stats = VersionMetrics("{name}", 1, batching=True)
now = time.perf_counter()
stats.done.append((4, now - 0.004, now - 0.003, now - 0.001, now, (500.0, 1500.0)))
stats.failed.append(0.002)
stats.flush()
"""


def served(name: str, *states: int) -> ServableView:
    return ServableView(name, {n: LoadedVersion(name, n, state) for n, state in enumerate(states, start=1)})


def test_counts_and_times_in_triton_shape_summed_over_processes():
    name = f"stats-{os.getpid()}-{time.monotonic_ns()}"
    stats = VersionMetrics(name, 1, batching=True)
    now = time.perf_counter()
    # two batches of 2 and one of 1: started, inferring (input done), returned, ended; (queue us, infer us)
    stats.done += [
        (2, now - 0.010, now - 0.009, now - 0.002, now - 0.001, (1000.0, 6000.0)),
        (2, now - 0.010, now - 0.008, now - 0.002, now - 0.001, (1000.0, 5000.0)),
        (1, now - 0.005, now - 0.004, now - 0.001, now, (0.0, 2000.0)),
    ]
    stats.failed.append(0.003)
    stats.flush()
    # a second server process of the node writes its own file
    subprocess.run([sys.executable, "-c", CHILD.format(name=name)], cwd=ROOT, env={**os.environ}, check=True)

    result = model_statistics([(name, 1)], read_totals())
    (entry,) = result["model_stats"]
    assert (entry["name"], entry["version"]) == (name, "1")
    assert entry["execution_count"] == 4 and entry["inference_count"] == 2 + 2 + 1 + 4
    assert abs(entry["last_inference"] - time.time() * 1000) < 60_000
    inference = entry["inference_stats"]
    assert inference["success"]["count"] == 4
    assert inference["success"]["ns"] == pytest.approx(9e6 + 9e6 + 5e6 + 4e6, rel=1e-3)
    assert inference["fail"] == {"count": 2, "ns": pytest.approx(5_000_000, rel=1e-3)}
    assert inference["queue"] == {"count": 4, "ns": pytest.approx(2_500_000, rel=1e-3)}
    assert inference["compute_infer"]["ns"] == pytest.approx(14_500_000, rel=1e-3)
    assert inference["compute_input"]["ns"] == pytest.approx(1e6 + 2e6 + 1e6 + 1e6, rel=1e-3)
    assert inference["compute_output"]["ns"] == pytest.approx(4e6, rel=1e-3)
    batches = {b["batch_size"]: b for b in entry["batch_stats"]}
    assert sorted(batches) == [1, 2, 4]
    assert batches[2]["compute_infer"] == {"count": 2, "ns": pytest.approx(11_000_000, rel=1e-3)}
    assert set(batches[1]) == {"batch_size", "compute_input", "compute_infer", "compute_output"}


def test_a_version_without_inferences_has_zeros():
    (entry,) = model_statistics([("never-called", 7)], {})["model_stats"]
    assert entry["execution_count"] == 0 and entry["last_inference"] == 0 and entry["batch_stats"] == []
    assert entry["inference_stats"]["success"] == {"count": 0, "ns": 0}


def test_metrics_text_leaves_the_triton_families_out():
    VersionMetrics("hidden", 1).flush()
    assert metrics.TRITON_PREFIX.encode() not in metrics.render()[0]


def test_selected_versions_follow_ovms_errors():
    servables = {
        "a": served("a", AVAILABLE, AVAILABLE),
        "b": served("b", AVAILABLE),
        "c": served("c", LOADING),
    }
    assert selected_versions(servables) == [("a", 1), ("a", 2), ("b", 1)]
    assert selected_versions(servables, "a") == [("a", 1), ("a", 2)]
    assert selected_versions(servables, "a", 2) == [("a", 2)]
    for name, version, text in [
        ("zzz", None, "Model with requested name is not found"),
        ("a", 9, "Model with requested version is not found"),
        ("c", None, "Model with requested version is not loaded yet"),
    ]:
        with pytest.raises(InferenceError) as caught:
            selected_versions(servables, name, version)
        assert (caught.value.status, caught.value.text) == (404, text)
