"""Shadow traffic: after the default version answered a version-less request, a copy goes to the candidate.

Called by the tensor protocol handlers (REST: inference/handlers.py; gRPC: inference/grpc/kserve.py and
tfs.py) once the client's answer is ready: `offer` costs one dict lookup when the servable has no shadow. For
`weight` % of the requests (inference/canary.py), the inputs go to the candidate in a task of its own; the
client's answer is never delayed or changed by it. At most `SHADOW_MAX_IN_FLIGHT` copies run at once per
process: further copies are dropped and counted, so a slow or failing candidate cannot pile up work. The
copies are counted in the candidate's own metrics (Triton statistics, /metrics, the traffic samples that the
console and the deployment analysis read) like requests, and their answers are compared with the default's:
`modelhub_shadow_copies{name, version, outcome}` with outcome same, different, failed or dropped.
/v3 (generative models) does not shadow.
"""

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings
from prometheus_client import Counter

from inference import canary, metrics

if TYPE_CHECKING:
    from inference.runtime import LoadedVersion, Runtime

logger = logging.getLogger(__name__)

shadow_copies = Counter(
    "modelhub_shadow_copies",
    "Copies of requests sent to a shadow candidate, by outcome (same/different answer, failed, dropped).",
    ("name", "version", "outcome"),
)
_in_flight = 0
_tasks: set[asyncio.Task[None]] = set()  # referenced until done (the loop keeps only weak references)


def offer(
    runtime: "Runtime",
    name: str,
    number: int | None,
    stable: "LoadedVersion",
    arrays: dict[int, Any],
    results: list[Any],
    api: str,
    method: str,
    interface: str = metrics.REST,
) -> None:
    """Copy a version-less request that `stable` answered to the shadow candidate, if the draw says so."""
    if number is not None:
        return
    view = runtime.servables.get(name)
    if view is None or view.split is None:
        return
    target = canary.shadow_target(view, stable)
    if target is None:
        return
    global _in_flight
    if _in_flight >= settings.INFERENCE_SHADOW_MAX_IN_FLIGHT:
        shadow_copies.labels(name, str(target.version), "dropped").inc()
        return
    _in_flight += 1
    task = asyncio.get_running_loop().create_task(
        _mirror(stable, target, arrays, results, (api, method, interface))
    )
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _mirror(
    stable: "LoadedVersion",
    target: "LoadedVersion",
    arrays: dict[int, Any],
    expected: list[Any],
    labels: tuple[str, str, str],
) -> None:
    global _in_flight
    api, method, interface = labels
    stats = target.metrics
    started = time.perf_counter()
    try:
        if [(s.name, s.datatype) for s in target.inputs] != [(s.name, s.datatype) for s in stable.inputs]:
            raise ValueError("the candidate's inputs differ from the default version's")
        results = await target.infer(arrays)
        returned = time.perf_counter()
    except Exception as exc:
        logger.debug("Shadow copy to %s:%s failed: %s", target.name, target.version, exc)
        shadow_copies.labels(target.name, str(target.version), "failed").inc()
        if stats is not None:
            stats.count(api, method, False, interface)
            stats.failed.append(time.perf_counter() - started)
        return
    finally:
        _in_flight -= 1
    if stats is not None:
        stats.count(api, method, True, interface)
        batch = getattr(next(iter(arrays.values()), None), "shape", (1,))[0] if stats.batching else 1
        done = stats.done if interface == metrics.REST else stats.grpc_done
        done.append((batch, started, started, returned, returned, stats.last))
    outcome = "same" if _same(expected, results) else "different"
    shadow_copies.labels(target.name, str(target.version), outcome).inc()


def _same(expected: list[Any], actual: list[Any]) -> bool:
    if len(expected) != len(actual):
        return False
    try:
        for one, other in zip(expected, actual, strict=True):
            one, other = np.asarray(one), np.asarray(other)
            if one.shape != other.shape:
                return False
            if one.dtype.kind in "fc" or other.dtype.kind in "fc":
                if not np.allclose(one, other, rtol=1e-3, atol=1e-5, equal_nan=True):
                    return False
            elif not np.array_equal(one, other):
                return False
    except (TypeError, ValueError):
        return False
    return True
