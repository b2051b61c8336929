"""The per-version pool of infer requests (inference/runtime.py) with real OpenVINO models, in process."""

import asyncio
import gc
import weakref
from typing import Any

import numpy as np
import openvino as ov
import pytest
from openvino import opset13 as ops

from inference.protocols.errors import InferenceError
from inference.runtime import AVAILABLE, LoadedVersion
from tests.modelfiles import build_two_io_model


def serving(model: ov.Model, nireq: int | None = None, *, warm_up: bool = True) -> LoadedVersion:
    version = LoadedVersion("m", 1, AVAILABLE)
    version.attach(model, ov.Core().compile_model(model, "CPU"), nireq)
    if warm_up:
        version.warm_up()
    version.start_serving()
    return version


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_more_requests_than_nireq_all_get_their_own_answers() -> None:
    version = serving(build_two_io_model(), nireq=2)

    async def many() -> list[list[np.ndarray]]:
        return await asyncio.gather(
            *(
                version.infer({0: np.full((1, 3), i, np.float32), 1: np.full((1, 3), 2, np.int32)})
                for i in range(40)
            )
        )

    for i, (total, product) in enumerate(run(many())):
        np.testing.assert_array_equal(total, np.full((1, 3), i + 2, np.float32))
        np.testing.assert_array_equal(product, np.full((1, 3), i * 2, np.float32))
    assert version.pool is not None and len(version.pool._idle) == 2


def test_string_inputs_and_outputs() -> None:
    text = ops.parameter([-1], ov.Type.string, name="text")
    number = ops.parameter([-1], np.float32, name="number")
    echo = ops.result(text)
    echo.output(0).get_tensor().set_names({"echo"})
    double = ops.result(ops.multiply(number, ops.constant(np.float32(2))))
    double.output(0).get_tensor().set_names({"double"})
    version = serving(ov.Model([echo, double], [text, number]))

    strings, doubled = run(
        version.infer({0: np.array([b"ab", b"c\xc3\xa9"], dtype=object), 1: np.array([1, 2], np.float32)})
    )

    assert strings.tolist() == [b"ab", b"c\xc3\xa9"]
    np.testing.assert_array_equal(doubled, [2.0, 4.0])


def test_a_failed_inference_answers_an_error_and_gives_its_request_back(settings: Any) -> None:
    settings.INFERENCE_TIMEOUT_SECONDS = 0.3
    data = ops.parameter([-1], np.float32, name="data")
    shape = ops.parameter([2], np.int64, name="shape")
    reshaped = ops.result(ops.reshape(data, shape, special_zero=False))
    version = serving(ov.Model([reshaped], [data, shape]), nireq=1, warm_up=False)  # zeros fail too
    six = np.arange(6, dtype=np.float32)

    async def attempts() -> None:
        for _ in range(2):  # with nireq 1, a request that was not given back would block the second attempt
            with pytest.raises(InferenceError) as failure:
                await version.infer({0: six, 1: np.array([4, 4], np.int64)})
            assert failure.value.status == 500
        (good,) = await version.infer({0: six, 1: np.array([3, 2], np.int64)})
        np.testing.assert_array_equal(good, six.reshape(3, 2))

    run(attempts())


def test_an_unloaded_version_is_freed() -> None:
    version = serving(build_two_io_model())
    run(version.infer({0: np.ones((1, 3), np.float32), 1: np.ones((1, 3), np.int32)}))
    unloaded = weakref.ref(version)
    del version
    gc.collect()
    assert unloaded() is None


def test_a_request_that_times_out_as_it_completes_goes_back_once() -> None:
    from inference import runtime

    version = serving(build_two_io_model(), nireq=2)
    pool = version.pool
    assert pool is not None
    inputs = {0: np.ones((1, 3), np.float32), 1: np.ones((1, 3), np.int32)}

    async def race() -> None:
        loop = asyncio.get_running_loop()
        slot = await pool.acquire(loop)
        future = loop.create_future()
        pool.start_async(slot, inputs, loop, future)
        slot.request.wait()  # done, its hand-over to the loop still queued
        runtime._expire(future, slot)  # the timeout fires first and takes the request back
        await asyncio.sleep(0.05)  # then the hand-over runs
        assert sorted(map(id, pool._idle)) == sorted(map(id, pool.slots))  # each request once
        assert isinstance(future.exception(), InferenceError)

    run(race())
