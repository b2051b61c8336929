"""Shadow copies (inference/shadow.py): bounded, counted, compared, and never in the client's way."""

import asyncio
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from inference import canary, metrics, shadow
from inference.protocols.tensors import BY_OV_NAME, TensorSpec
from inference.runtime import AVAILABLE, LoadedVersion, ServableView

SPEC = TensorSpec("input", 0, BY_OV_NAME["f32"], None)


class FakeVersion(LoadedVersion):
    """A version whose inference sleeps, raises or answers a constant: the hot path without OpenVINO."""

    def __init__(self, version: int, *, answer: float = 1.0, sleep: float = 0.0, error: bool = False) -> None:
        super().__init__("m", version, AVAILABLE)
        self.inputs = (SPEC,)
        self.metrics = metrics.VersionMetrics("m", version)
        self.answer, self.sleep, self.error = answer, sleep, error

    async def infer(self, arrays: dict[int, np.ndarray]) -> list[Any]:
        await asyncio.sleep(self.sleep)
        if self.error:
            raise RuntimeError("the candidate is broken")
        return [np.full((1, 4), self.answer, dtype=np.float32)]


def runtime_with(candidate: FakeVersion, weight: int = 100) -> tuple[Any, FakeVersion]:
    stable = FakeVersion(1)
    view = ServableView(
        "m", {1: stable, 2: candidate}, default_version=1, split=canary.Split(2, weight, "shadow")
    )
    return SimpleNamespace(servables={"m": view}), stable


def copies(outcome: str, version: int = 2) -> float:
    return shadow.shadow_copies.labels("m", str(version), outcome)._value.get()


ARRAYS = {0: np.zeros((1, 4), dtype=np.float32)}
STABLE_ANSWER = [np.full((1, 4), 1.0, dtype=np.float32)]


@pytest.mark.parametrize("max_in_flight", [2])
def test_a_slow_candidate_gets_at_most_the_bound_and_the_rest_is_dropped_and_counted(
    settings, max_in_flight: int
) -> None:  # type: ignore[no-untyped-def]
    settings.INFERENCE_SHADOW_MAX_IN_FLIGHT = max_in_flight
    runtime, stable = runtime_with(FakeVersion(2, sleep=0.2))
    dropped_before = copies("dropped")

    async def scenario() -> float:
        started = asyncio.get_running_loop().time()
        for _ in range(10):
            shadow.offer(runtime, "m", None, stable, ARRAYS, STABLE_ANSWER, metrics.KSERVE, "ModelInfer")
        offered = asyncio.get_running_loop().time() - started
        await asyncio.gather(*shadow._tasks)
        return offered

    offered = asyncio.run(scenario())
    assert offered < 0.05  # offering never waits for the candidate
    assert copies("dropped") - dropped_before == 8
    assert shadow._in_flight == 0


def test_failing_and_differing_copies_are_counted_in_the_candidate_metrics(settings) -> None:  # type: ignore[no-untyped-def]
    settings.INFERENCE_SHADOW_MAX_IN_FLIGHT = 100
    broken, stable = runtime_with(FakeVersion(2, error=True))
    failed_before, different_before = copies("failed"), copies("different", 3)
    candidate = broken.servables["m"].versions[2]

    async def offer(runtime: Any, stable: FakeVersion, count: int) -> None:
        for _ in range(count):
            shadow.offer(runtime, "m", None, stable, ARRAYS, STABLE_ANSWER, metrics.KSERVE, "ModelInfer")
        await asyncio.gather(*shadow._tasks)

    asyncio.run(offer(broken, stable, 5))
    assert copies("failed") - failed_before == 5
    assert candidate.metrics.counts[(metrics.KSERVE, "ModelInfer", False, metrics.REST)] == 5
    assert len(candidate.metrics.failed) == 5

    other = FakeVersion(3, answer=7.0)
    view = ServableView("m", {1: stable, 3: other}, default_version=1, split=canary.Split(3, 100, "shadow"))
    asyncio.run(offer(SimpleNamespace(servables={"m": view}), stable, 4))
    assert copies("different", 3) - different_before == 4
    assert other.metrics.counts[(metrics.KSERVE, "ModelInfer", True, metrics.REST)] == 4
    assert len(other.metrics.done) == 4  # Triton statistics and the traffic samples count them


def test_requests_naming_a_version_and_canaries_are_never_copied(settings) -> None:  # type: ignore[no-untyped-def]
    runtime, stable = runtime_with(FakeVersion(2))

    async def scenario() -> int:
        shadow.offer(runtime, "m", 1, stable, ARRAYS, STABLE_ANSWER, metrics.KSERVE, "ModelInfer")
        runtime.servables["m"] = ServableView(
            "m", runtime.servables["m"].versions, default_version=1, split=canary.Split(2, 100)
        )
        shadow.offer(runtime, "m", None, stable, ARRAYS, STABLE_ANSWER, metrics.KSERVE, "ModelInfer")
        return len(shadow._tasks)

    assert asyncio.run(scenario()) == 0
