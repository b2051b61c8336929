"""The process-level OpenVINO runtime: compiled models of this server process, reconciled with the database.

A reconciler thread (started by the ASGI lifespan, never at import) polls `ServingGeneration` and the OVMS
config.json, loads what should be served (materialize -> read_model -> reshape -> compile -> a pool of infer requests
-> warm-up) and retires what should not. Serving goes on meanwhile: requests read an immutable snapshot
(`Runtime.servables`) that the reconciler replaces, so the hot path takes no lock and runs no query.
A second thread heartbeats `ServingProcess` and this process writes a `VersionReport` per version.
Both threads keep their database connection from one tick to the next (Django would reopen a SQLite connection
every time, which costs more than the tick's query) and open a new one after a failure.
"""

import asyncio
import concurrent.futures
import ctypes
import logging
import os
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import openvino as ov
import orjson
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Prefetch
from django.utils import timezone

from access import audit
from access.redaction import shown_error
from config.errors import describe_error
from inference import cache, canary, config_file, metrics, plugin_config
from inference.genai import loading as genai_loading
from inference.genai.loading import GenAIVersion
from inference.metrics import VersionMetrics, flush_metrics
from inference.models import (
    Servable,
    ServedVersion,
    ServingGeneration,
    ServingProcess,
    VersionReport,
    VersionState,
)
from inference.protocols import errors
from inference.protocols.tensors import BY_OV_NAME, UNSUPPORTED, Dim, TensorSpec
from inference.triton.model_config import batching
from registry.models import Model

logger = logging.getLogger(__name__)

START, LOADING, AVAILABLE, UNLOADING, END = (state.value for state in VersionState)
STATE_NAMES = {state.value: state.name for state in VersionState}
T = TypeVar("T")
METRICS_FLUSH_SECONDS = 0.5


@dataclass(frozen=True)
class VersionPlan:
    """How one version should be served; a different fingerprint means reload."""

    servable: str
    version: int
    device: str
    plugin_config: dict[str, Any]
    nireq: int | None
    shape: Any
    batch_size: int | None
    warmup: bool
    model_id: str | None = None  # registry model (materialized into the model cache)
    folder: Path | None = None  # config.json model (OVMS layout, used in place)
    task: str = (
        ""  # "" = a tensor model (TFS/KServe); else a generative/embedding task (/v3, inference/genai)
    )
    scheduler: dict[str, Any] | None = None  # LLM versions: SchedulerConfig fields
    fingerprint: tuple[Any, ...] = ()


@dataclass(frozen=True)
class ServablePlan:
    name: str
    versions: dict[int, VersionPlan]
    default_version: int | None = None
    previous_default_version: int | None = None
    switch_at: float | None = None  # epoch seconds
    source: str = "db"  # or "config" (MODEL_CONFIG_PATH)
    split: canary.Split | None = None  # a canary or shadow candidate beside the default


class LoadedVersion:
    """One version in this process: its state and, when AVAILABLE, its compiled model and infer requests."""

    def __init__(self, name: str, version: int, state: int, fingerprint: tuple[Any, ...] = ()) -> None:
        self.name = name
        self.version = version
        self.state = state
        self.fingerprint = fingerprint
        self.error_code = "OK"
        self.error = ""
        self.warmed_up = False
        self.ram_bytes: int | None = None
        self.nireq = 0
        self.compiled: ov.CompiledModel | None = None
        self.pool: RequestPool | None = None
        self.inputs: tuple[TensorSpec, ...] = ()
        self.inputs_sorted: tuple[TensorSpec, ...] = ()
        self.inputs_by_name: dict[str, TensorSpec] = {}
        self.outputs: tuple[TensorSpec, ...] = ()
        self.metrics: VersionMetrics | None = None
        self.genai: GenAIVersion | None = None  # set for generative/embedding versions (/v3)

    def copy_with_state(self, state: int) -> "LoadedVersion":
        twin = LoadedVersion(self.name, self.version, state, self.fingerprint)
        twin.__dict__.update({k: v for k, v in self.__dict__.items() if k != "state"})
        return twin

    @property
    def state_name(self) -> str:
        return STATE_NAMES[self.state]

    def attach(self, model: ov.Model, compiled: ov.CompiledModel, nireq: int | None) -> None:
        """`model` gives the tensor names clients use (compiling may add internal aliases)."""
        self.compiled = compiled
        self.inputs = tuple(_spec(port, i, "input") for i, port in enumerate(model.inputs))
        self.inputs_sorted = tuple(sorted(self.inputs, key=lambda spec: spec.name))
        self.inputs_by_name = {spec.name: spec for spec in self.inputs}
        self.outputs = tuple(_spec(port, i, "output") for i, port in enumerate(model.outputs))
        # Default: twice OpenVINO's optimal number, so that each stream has a job queued behind the one it runs
        # while Python prepares the next (measured: +5-10% on a heavy model, +20-40% on a light one).
        self.nireq = nireq or 2 * max(int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")), 1)
        self.pool = RequestPool(compiled, self.nireq, self.inputs, self.outputs)
        self.metrics = VersionMetrics(self.name, self.version, batching=batching(self.inputs, self.outputs))
        try:
            self.metrics.streams.set(int(compiled.get_property("NUM_STREAMS")))
        except (RuntimeError, TypeError, ValueError):
            pass
        self.metrics.queue_size.set(self.nireq)

    def warm_up(self) -> None:
        """One real inference on zeros of the input shapes, before the version takes traffic."""
        assert self.pool is not None
        arrays: dict[int, Any] = {}
        for spec in self.inputs:
            shape = spec.warmup_shape()
            if spec.datatype.numpy is None:
                arrays[spec.index] = np.full(shape, b"", dtype=np.bytes_)
            else:
                arrays[spec.index] = np.zeros(shape, dtype=spec.datatype.numpy)
        self.pool.warm_up(arrays)
        self.warmed_up = True

    def start_serving(self) -> None:
        assert self.pool is not None
        self.pool.start()

    async def infer(self, arrays: dict[int, np.ndarray]) -> list[Any]:
        """Run one inference on an idle infer request without ever blocking the event loop."""
        pool = self.pool
        metrics = self.metrics
        assert pool is not None and metrics is not None
        loop = asyncio.get_running_loop()
        waiting = time.perf_counter()
        metrics.current += 1
        try:
            slot = await pool.acquire(loop)
            started = time.perf_counter()
            future: asyncio.Future[tuple[float, Any]] = loop.create_future()
            # OpenVINO does not call the Python callback when an inference fails: a timer frees the client.
            timer = loop.call_later(settings.INFERENCE_TIMEOUT_SECONDS, _expire, future, slot)
            try:
                try:
                    pool.start_async(slot, arrays, loop, future)
                except BaseException:
                    pool.give_back(slot, future)
                    raise
                finished, outputs = await future
            finally:
                timer.cancel()
        finally:
            metrics.current -= 1
        metrics.last = ((started - waiting) * 1e6, (finished - started) * 1e6)
        if isinstance(outputs, BaseException):
            logger.error("Reading the outputs of %s:%s failed: %s", self.name, self.version, outputs)
            raise errors.INTERNAL_INFERENCE_ERROR
        return outputs


class _Slot:
    """One infer request of a pool and the request it is running for (set before each start)."""

    __slots__ = ("request", "pool", "loop", "future", "__weakref__")

    def __init__(self, request: ov.InferRequest, pool: "RequestPool") -> None:
        self.request = request
        self.pool = pool
        self.loop: asyncio.AbstractEventLoop | None = None
        self.future: asyncio.Future | None = None


class RequestPool:
    """`nireq` infer requests of one compiled model, each handed to one inference at a time.

    Compared with an AsyncInferQueue, starting an inference releases the GIL once instead of twice, and a
    request goes back to the pool only once its outputs are copied, on the event loop (no lock is held while
    OpenVINO runs). The callback gets a weak reference, so an unloaded model is freed (a callback holding its
    owner would form a cycle through C++ that the garbage collector cannot see).
    """

    def __init__(
        self,
        compiled: ov.CompiledModel,
        size: int,
        inputs: tuple[TensorSpec, ...],
        outputs: tuple[TensorSpec, ...],
    ) -> None:
        self.slots = [_Slot(compiled.create_infer_request(), self) for _ in range(size)]
        self._idle = list(self.slots)
        self._waiters: deque[asyncio.Future[_Slot]] = deque()
        # The idle list is shared by every event loop that serves (one in a server process, tests use several).
        self._lock = threading.Lock()
        self._strings_in = any(spec.datatype.numpy is None for spec in inputs)
        self._string_outputs = frozenset(s.index for s in outputs if s.datatype.ov_name == "string")
        self._output_count = len(outputs)

    def warm_up(self, arrays: dict[int, Any]) -> None:
        self.slots[0].request.infer(arrays)

    def start(self) -> None:
        for slot in self.slots:
            slot.request.set_callback(_request_done, weakref.ref(slot))

    async def acquire(self, loop: asyncio.AbstractEventLoop) -> _Slot:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            waiter: asyncio.Future[_Slot] = loop.create_future()
            self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(waiter.result())
            raise

    def release(self, slot: _Slot) -> None:
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                if not waiter.done():
                    break
            else:
                self._idle.append(slot)
                return
        if waiter.get_loop() is _running_loop():
            waiter.set_result(slot)
        else:
            waiter.get_loop().call_soon_threadsafe(_hand_over, waiter, slot)

    def give_back(self, slot: _Slot, future: asyncio.Future) -> None:
        """Return the request that ran for `future`, once: the callback and the timeout may both try."""
        if slot.future is future:
            slot.future = None
            self.release(slot)

    def start_async(
        self,
        slot: _Slot,
        arrays: dict[int, np.ndarray],
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future,
    ) -> None:
        slot.loop = loop
        slot.future = future
        request = slot.request
        if self._strings_in:
            # openvino's wrapper makes string tensors of numpy bytes arrays, not of object arrays of bytes
            request.start_async(
                {i: a.astype(np.bytes_) if a.dtype == object else a for i, a in arrays.items()}
            )
            return
        # The arrays themselves become the request's input tensors (no copy); the tensors keep them alive.
        # Calling the binding directly skips the Python wrapper's input dispatcher (~100 us a request).
        tensors = {}
        for index, array in arrays.items():
            shared = _shareable(array)
            if shared is not array:  # a copy: the caller's dict keeps it alive until the inference ends
                arrays[index] = shared
            tensors[index] = ov.Tensor(shared, shared_memory=True)
        _request_start_async(request, tensors, None)

    def outputs_of(self, request: ov.InferRequest) -> list[Any]:
        return [
            _string_output(request, i)
            if i in self._string_outputs
            else request.get_output_tensor(i).data.copy()
            for i in range(self._output_count)
        ]


def _request_done(reference: "weakref.ref[_Slot]") -> None:
    """On OpenVINO's thread: copy the outputs out and hand them to the waiting request's event loop."""
    finished = time.perf_counter()
    if not getattr(_callback_thread, "kept", False):
        _keep_thread_state()
    slot = reference()
    if slot is None or slot.loop is None or slot.future is None:
        return
    outputs: list[Any] | BaseException
    try:
        outputs = slot.pool.outputs_of(slot.request)
    except BaseException as exc:  # noqa: BLE001 - reported by the waiting request
        outputs = exc
    slot.loop.call_soon_threadsafe(_settle, slot, slot.future, (finished, outputs))


def _settle(slot: _Slot, future: asyncio.Future, result: tuple[float, Any]) -> None:
    if not future.done():
        future.set_result(result)
    slot.pool.give_back(slot, future)


def _hand_over(waiter: asyncio.Future, slot: _Slot) -> None:
    if waiter.done():
        slot.pool.release(slot)
    else:
        waiter.set_result(slot)


def _expire(future: asyncio.Future, slot: _Slot) -> None:
    if not future.done():
        logger.error("Inference did not complete within %ss", settings.INFERENCE_TIMEOUT_SECONDS)
        future.set_exception(errors.INTERNAL_INFERENCE_ERROR())
    # A failed inference never calls back: take its request back once OpenVINO says it has stopped.
    if slot.future is future and _request_stopped(slot.request):
        slot.pool.give_back(slot, future)


def _request_stopped(request: ov.InferRequest) -> bool:
    try:
        return bool(request.wait_for(0))
    except Exception:  # noqa: BLE001 - the inference failed: the request is idle again
        return True


def _shareable(array: np.ndarray) -> np.ndarray:
    """OpenVINO shares only writeable C-contiguous memory (binary inputs are views of the request body)."""
    if array.flags.c_contiguous and array.flags.writeable:
        return array
    return np.array(array, order="C")


# The C++ binding under openvino's Python wrapper.
_request_start_async = ov.InferRequest.__mro__[1].start_async
_running_loop = asyncio._get_running_loop
_callback_thread = threading.local()


def _keep_thread_state() -> None:
    """Keep this OpenVINO thread's Python thread state between callbacks.

    pybind11 gives a thread that Python did not start a new thread state for every callback and deletes it
    afterwards; in Python 3.11 that maps and unmaps a frame stack each time, and every unmapping flushes the
    TLB of all cores running the process (inference threads included). One PyGILState_Ensure that is never
    released keeps the state alive for the thread's life (measured: ~10% more inferences/s on a light model).
    """
    ctypes.pythonapi.PyGILState_Ensure()
    _callback_thread.kept = True


def _string_output(request: ov.InferRequest, index: int) -> np.ndarray:
    tensor = request.get_output_tensor(index)
    return np.array(tensor.bytes_data, dtype=object).reshape(tuple(tensor.shape))


def _spec(port: ov.Output, index: int, kind: str) -> TensorSpec:
    names = port.get_names()
    name = port.get_any_name() if names else f"{kind}_{index}"
    datatype = BY_OV_NAME.get(port.get_element_type().get_type_name(), UNSUPPORTED)
    shape = port.get_partial_shape()
    dims = None if shape.rank.is_dynamic else tuple(dim_of(d) for d in shape)
    return TensorSpec(name, index, datatype, dims)


def dim_of(dimension: ov.Dimension) -> Dim:
    if dimension.is_static:
        return Dim(dimension.get_length(), dimension.get_length())
    return Dim(max(dimension.get_min_length(), 0), dimension.get_max_length())


@dataclass(frozen=True)
class ServableView:
    """A servable as requests see it: every known version with its state, and how the default is chosen."""

    name: str
    versions: dict[int, LoadedVersion]
    default_version: int | None = None
    previous_default_version: int | None = None
    switch_at: float | None = None
    source: str = "db"
    split: canary.Split | None = None

    def resolve(self, version: int | None) -> LoadedVersion:
        """The version to serve, or OVMS's 404 for a missing, not yet loaded, or retired version."""
        if version is None:
            found = self.default_choice()
            if self.split is not None:
                found = canary.choose(self, found)
        else:
            found = self.versions.get(version)
        if found is None:
            raise errors.MODEL_VERSION_MISSING
        if found.state == AVAILABLE:
            return found
        raise (
            errors.MODEL_VERSION_NOT_LOADED_YET
            if found.state < AVAILABLE
            else errors.MODEL_VERSION_NOT_LOADED_ANYMORE
        )

    def default_choice(self) -> LoadedVersion | None:
        pinned = self.default_version
        if self.switch_at is not None and time.time() < self.switch_at:
            pinned = self.previous_default_version
        if pinned is not None:
            chosen = self.versions.get(pinned)
            if chosen is not None and chosen.state == AVAILABLE:
                return chosen
            # A pin this process cannot serve (yet): keep answering with the newest available version.
        available = [v for v in self.versions.values() if v.state == AVAILABLE]
        if available:
            return max(available, key=lambda v: v.version)
        if self.versions:
            return self.versions[max(self.versions)]
        return None

    def available_versions(self) -> list[int]:
        return sorted(n for n, v in self.versions.items() if v.state == AVAILABLE)


class Runtime:
    def __init__(self) -> None:
        self.servables: dict[str, ServableView] = {}
        self.ready = False
        self.started_at = timezone.now()
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{int(self.started_at.timestamp() * 1000)}"
        self.loop: asyncio.AbstractEventLoop | None = None
        self.config_error: type[errors.InferenceError] | None = None
        self._core: ov.Core | None = None
        self._private_loop: asyncio.AbstractEventLoop | None = None
        self._threads: list[threading.Thread] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pending: list[concurrent.futures.Future[bool]] = []
        self._pending_lock = threading.Lock()
        self._generation_seen: int | None = None
        self._config_signature: Any = None
        self._deadline: float | None = None
        self._reported: set[tuple[str, int]] = set()

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        if self._threads:
            return
        self.loop = loop
        metrics.prepare_directory()
        self._stop.clear()
        for target, name in (
            (self._reconcile_loop, "inference-reconciler"),
            (self._heartbeat_loop, "inference-heartbeat"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        if loop is not None:
            loop.call_later(METRICS_FLUSH_SECONDS, self._flush_tick, loop)

    def _flush_tick(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            flush_metrics()
        except Exception:
            logger.exception("Could not write metrics")
        if not self._stop.is_set():
            loop.call_later(METRICS_FLUSH_SECONDS, self._flush_tick, loop)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        flush_metrics()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        metrics.process_exiting()

    @property
    def core(self) -> ov.Core:
        if self._core is None:
            core = ov.Core()
            if (
                settings.INFERENCE_COMPILED_CACHE_DIR
            ):  # OVMS's --cache_dir: later loads of a model skip compiling
                core.set_property({"CACHE_DIR": settings.INFERENCE_COMPILED_CACHE_DIR})
            self._core = core
        return self._core

    # --- what requests use ----------------------------------------------------------------------------

    def servable(self, name: str) -> ServableView:
        view = self.servables.get(name)
        if view is None:
            raise errors.MODEL_NAME_MISSING
        return view

    async def reload(self) -> bool:
        """Reconcile now (POST /v1/config/reload); True when anything changed. Audited (who asked)."""
        changed = await self._reload()
        await asyncio.to_thread(audit.record, "config_reload", "serving", "", changed=changed)
        return changed

    async def _reload(self) -> bool:
        future: concurrent.futures.Future[bool] = concurrent.futures.Future()
        if (
            not self._threads
        ):  # no reconciler thread (tests, management commands): reconcile in a worker thread
            changed = await asyncio.to_thread(self.reconcile, force=True)
            if self.config_error is not None:
                raise self.config_error
            return changed
        with self._pending_lock:
            self._pending.append(future)
        self._wake.set()
        return await asyncio.wrap_future(future)

    def run(self, coroutine: Awaitable[T]) -> T:
        """Run a coroutine on the serving loop from a synchronous caller (Django views, tests)."""
        loop = self.loop if self.loop is not None and self.loop.is_running() else self._own_loop()
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()  # type: ignore[arg-type]

    def _own_loop(self) -> asyncio.AbstractEventLoop:
        if self._private_loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="inference-loop", daemon=True).start()
            self._private_loop = loop
        return self._private_loop

    # --- reconciliation -------------------------------------------------------------------------------

    def _reconcile_loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self._tick()
                except Exception:
                    logger.exception("Serving state could not be reconciled; retrying")
                    connection.close()  # the next tick reconnects
                self._wake.wait(settings.INFERENCE_RECONCILE_SECONDS)
                self._wake.clear()
        finally:
            connection.close()

    def _tick(self) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, []
        try:
            generation = ServingGeneration.current()
            signature = self._config_files_signature()
            due = self._deadline is not None and time.time() >= self._deadline
            if (
                pending
                or not self.ready
                or due
                or generation != self._generation_seen
                or signature != self._config_signature
            ):
                changed = self.reconcile(force=bool(pending), generation=generation)
                self._config_signature = signature
            else:
                changed = False
        except BaseException as exc:
            for future in pending:
                future.set_exception(exc)
            raise
        for future in pending:
            if self.config_error is not None:
                future.set_exception(self.config_error())
            else:
                future.set_result(changed)

    def reconcile(self, *, force: bool = False, generation: int | None = None) -> bool:
        """Bring this process's versions to the desired state. True when anything was loaded or unloaded."""
        if generation is None:
            generation = ServingGeneration.current()
        retry_failed = force or generation != self._generation_seen
        plans = self._plans()
        changed = False
        current = self.servables
        for name in sorted(set(current) | set(plans)):
            plan = plans.get(name)
            view = current.get(name)
            versions = dict(view.versions) if view else {}
            for number in plan.versions if plan else ():
                existing = versions.get(number)
                if existing is None or existing.state in (UNLOADING, END):
                    versions[number] = LoadedVersion(name, number, START)
                    changed = True
            self._publish(name, versions, plan, view)

        for name, plan in plans.items():
            for number, version_plan in sorted(plan.versions.items()):
                existing = self.servables[name].versions[number]
                if existing.fingerprint == version_plan.fingerprint:
                    if existing.state == AVAILABLE or (existing.error_code != "OK" and not retry_failed):
                        continue
                if existing.state != AVAILABLE:
                    self._set_version(name, existing.copy_with_state(LOADING))
                loaded = self._load(version_plan)
                if loaded.state != AVAILABLE and existing.state == AVAILABLE:
                    logger.error(
                        "Reloading %s:%s failed; the previous build keeps serving: %s",
                        name,
                        number,
                        loaded.error,
                    )
                    self._report(existing, error=loaded.error)
                    continue
                self._set_version(name, loaded)
                if existing.genai is not None:  # a reload replaced it: its running requests finish first
                    genai_loading.retire(existing.genai)
                changed = True

        for name, view in list(self.servables.items()):
            wanted = plans[name].versions if name in plans else {}
            for number, version in sorted(view.versions.items()):
                if number not in wanted and version.state != END:
                    self._retire(name, version)
                    changed = True
        self._generation_seen = generation
        self.ready = True
        return changed

    def _publish(
        self,
        name: str,
        versions: dict[int, LoadedVersion],
        plan: ServablePlan | None,
        view: ServableView | None,
    ) -> None:
        if plan is not None:
            new = ServableView(
                name,
                versions,
                plan.default_version,
                plan.previous_default_version,
                plan.switch_at,
                plan.source,
                plan.split,
            )
        else:
            new = ServableView(name, versions, source=view.source if view else "db")
        self.servables = {**self.servables, name: new}
        for version in versions.values():
            self._report(version)

    def _set_version(self, name: str, version: LoadedVersion) -> None:
        view = self.servables[name]
        versions = {**view.versions, version.version: version}
        self.servables = {**self.servables, name: ServableView(name, versions, view.default_version,
                                                                view.previous_default_version, view.switch_at, view.source,
                                                                view.split)}  # fmt: skip
        self._report(version)

    def _retire(self, name: str, version: LoadedVersion) -> None:
        """UNLOADING, then END: requests already running keep their reference and finish."""
        self._set_version(name, version.copy_with_state(UNLOADING))
        ended = LoadedVersion(name, version.version, END, version.fingerprint)
        self._set_version(name, ended)
        if version.genai is not None:  # requests already running finish first (their streams included)
            genai_loading.retire(version.genai)
        logger.info("Unloaded %s version %s", name, version.version)

    def _load(self, plan: VersionPlan) -> LoadedVersion:
        version = LoadedVersion(plan.servable, plan.version, LOADING, plan.fingerprint)
        began = time.monotonic()
        try:
            folder = self._folder(plan)
            rss_before = _rss_bytes()
            if plan.task:
                self._load_genai(version, plan, folder)
                version.ram_bytes = max(_rss_bytes() - rss_before, 0)
                version.state = AVAILABLE
                logger.info(
                    "Loaded %s version %s (%s) on %s in %.2fs (%s MB)", plan.servable, plan.version, plan.task,
                    plan.device, time.monotonic() - began, version.ram_bytes // 2**20,
                )  # fmt: skip
                return version
            model = self.core.read_model(str(cache.model_file_in(folder)))
            _reshape(model, plan.shape, plan.batch_size)
            compiled = self.core.compile_model(model, plan.device, _plugin_config(plan.plugin_config))
            version.attach(model, compiled, plan.nireq)
            if plan.warmup:
                version.warm_up()
            version.start_serving()
            version.ram_bytes = max(_rss_bytes() - rss_before, 0)
            version.state = AVAILABLE
            logger.info(
                "Loaded %s version %s on %s in %.2fs (nireq %s, %s MB)", plan.servable, plan.version, plan.device,
                time.monotonic() - began, version.nireq, version.ram_bytes // 2**20,
            )  # fmt: skip
        except Exception as exc:
            version = LoadedVersion(plan.servable, plan.version, LOADING, plan.fingerprint)
            version.error_code = "UNKNOWN"
            # Readers see the text without absolute paths (where the cache lives); the log keeps it whole.
            version.error = shown_error(describe_error(exc))
            logger.error("Loading %s version %s failed: %s", plan.servable, plan.version, describe_error(exc))
        return version

    def _load_genai(self, version: LoadedVersion, plan: VersionPlan, folder: Path) -> None:
        properties = _plugin_config(plan.plugin_config, defaults=False)
        if settings.INFERENCE_COMPILED_CACHE_DIR:
            properties.setdefault("CACHE_DIR", settings.INFERENCE_COMPILED_CACHE_DIR)
        version.genai = genai_loading.load(
            plan.task, folder, device=plan.device, properties=properties, scheduler=plan.scheduler
        )
        version.metrics = VersionMetrics(plan.servable, plan.version)
        if plan.warmup:
            genai_loading.warm_up(version.genai)
            version.warmed_up = True

    def _folder(self, plan: VersionPlan) -> Path:
        if plan.folder is not None:
            return plan.folder
        model = Model.objects.get(pk=plan.model_id)
        return cache.materialize(model)

    # --- desired state --------------------------------------------------------------------------------

    def _plans(self) -> dict[str, ServablePlan]:
        now = timezone.now()
        plans = self._database_plans(now)
        for name, plan in self._config_plans().items():
            if name in plans:
                logger.warning(
                    "Servable %s is defined in both the database and %s; config.json wins",
                    name,
                    settings.MODEL_CONFIG_PATH,
                )
            plans[name] = plan
        return plans

    def _database_plans(self, now: datetime) -> dict[str, ServablePlan]:
        plans: dict[str, ServablePlan] = {}
        deadlines: list[datetime] = []
        rows = ServedVersion.objects.select_related("model")
        for servable in Servable.objects.prefetch_related(Prefetch("versions", queryset=rows)):
            by_number = {row.version: row for row in servable.versions.all() if row.model is not None}
            wanted = set(config_file.select_versions(servable.version_policy, list(by_number)))
            if servable.default_version is not None:
                wanted.add(servable.default_version)
            switch_pending = servable.default_switch_at is not None and servable.default_switch_at > now
            if switch_pending:
                deadlines.append(servable.default_switch_at)  # type: ignore[arg-type]
            if servable.previous_default_version is not None and (
                servable.default_switch_at is None or switch_pending
            ):
                wanted.add(servable.previous_default_version)
            if servable.candidate_version is not None:
                wanted.add(servable.candidate_version)
            for row in by_number.values():
                if row.retain_until is not None and row.retain_until > now:
                    wanted.add(row.version)
                    deadlines.append(row.retain_until)
            versions = {}
            for number in sorted(wanted & set(by_number)):
                model = by_number[number].model
                assert model is not None
                versions[number] = _plan(
                    servable.name, number, device=servable.target_device,
                    plugin_config=plugin_config.allowed_only(servable.plugin_config, servable=servable.name),
                    nireq=servable.nireq, shape=servable.shape, batch_size=None, warmup=servable.warmup,
                    model_id=model.pk, content=model.sha256, task=model.task,
                    scheduler=servable.scheduler_config or None,
                )  # fmt: skip
            switch_at = servable.default_switch_at.timestamp() if servable.default_switch_at else None
            split = canary.split_of(
                servable.candidate_version, servable.candidate_weight, servable.candidate_mode
            )
            plans[servable.name] = ServablePlan(servable.name, versions, servable.default_version,
                                                servable.previous_default_version, switch_at, split=split)  # fmt: skip
        self._deadline = min(deadlines).timestamp() if deadlines else None
        return plans

    def _config_plans(self) -> dict[str, ServablePlan]:
        path = settings.MODEL_CONFIG_PATH
        if not path:
            self.config_error = None
            return {}
        try:
            models = config_file.read_config(path)
        except config_file.ConfigFileMissing as exc:
            logger.error("MODEL_CONFIG_PATH cannot be read: %s", exc)
            self.config_error = errors.CONFIG_FILE_INVALID
            return self._keep_config_servables()
        except config_file.ConfigFileInvalid as exc:
            logger.error("MODEL_CONFIG_PATH is invalid: %s", exc)
            self.config_error = errors.CONFIG_RELOAD_FAILED
            return self._keep_config_servables()
        self.config_error = None
        plans = {}
        for model in models:
            folders = config_file.scan_versions(model.base_path)
            if not folders:
                logger.error("%s: no integer version folder in %s", model.name, model.base_path)
            selected = config_file.select_versions(model.version_policy, list(folders))
            versions = {
                number: _plan(
                    model.name,
                    number,
                    device=model.target_device or settings.INFERENCE_DEFAULT_DEVICE,
                    plugin_config=model.plugin_config,
                    nireq=model.nireq,
                    shape=model.shape,
                    batch_size=model.batch_size,
                    warmup=True,
                    folder=folders[number],
                    content=config_file.folder_fingerprint(folders[number]),
                )  # fmt: skip
                for number in selected
            }
            plans[model.name] = ServablePlan(model.name, versions, source="config")
        return plans

    def _keep_config_servables(self) -> dict[str, ServablePlan]:
        """While config.json is broken, the models it served keep their current versions (OVMS does so too)."""
        kept = {}
        for name, view in self.servables.items():
            if view.source == "config":
                versions = {n: v for n, v in view.versions.items() if v.state == AVAILABLE}
                kept[name] = ServablePlan(
                    name, {n: _same_plan(v) for n, v in versions.items()}, source="config"
                )
        return kept

    def _config_files_signature(self) -> Any:
        path = settings.MODEL_CONFIG_PATH
        if not path:
            return None
        signature: list[Any] = [config_file.config_signature(path)]
        try:
            models = config_file.read_config(path)
        except (config_file.ConfigFileMissing, config_file.ConfigFileInvalid):
            return tuple(signature)
        for model in models:
            for number, folder in sorted(config_file.scan_versions(model.base_path).items()):
                try:
                    signature.append((model.name, number, folder.stat().st_mtime_ns))
                except OSError:
                    continue
        return tuple(signature)

    # --- reports to the database ----------------------------------------------------------------------

    def _report(self, version: LoadedVersion, *, error: str | None = None) -> None:
        """Record what this process holds (read by wait_for_version, the lifecycle API and deployments)."""
        key = (version.name, version.version)
        if not self._threads or self._stop.is_set():
            return  # not a serving process (tests, commands), or stopping: its reports go with its process row
        try:
            if version.state == END:
                VersionReport.objects.filter(
                    process_id=self.process_id, servable_name=version.name, version=version.version
                ).delete()
                self._reported.discard(key)
                return
            defaults = {
                "state": version.state, "error_code": version.error_code, "error_message": error or version.error,
                "warmed_up": version.warmed_up, "ram_bytes": version.ram_bytes,
            }  # fmt: skip
            for attempt in (1, 2):
                try:
                    with transaction.atomic():
                        VersionReport.objects.update_or_create(
                            process_id=self.process_id, servable_name=version.name, version=version.version,
                            defaults=defaults,
                        )  # fmt: skip
                    break
                except IntegrityError:
                    # "FOREIGN KEY constraint failed": no process row yet (the reconciler loaded a model
                    # before the first heartbeat wrote it) or it was removed as stale. Write it and retry.
                    if attempt == 2:
                        raise
                    self._register(timezone.now())
            self._reported.add(key)
        except Exception:
            logger.exception("Could not report %s:%s", version.name, version.version)

    def _heartbeat_loop(self) -> None:
        beats = 0
        try:
            while not self._stop.is_set():
                try:
                    self._heartbeat(cleanup=beats % 10 == 0)
                except Exception:
                    logger.exception("Heartbeat failed")
                    connection.close()  # the next beat reconnects
                beats += 1
                self._stop.wait(settings.INFERENCE_HEARTBEAT_SECONDS)
            for thread in self._threads:  # no report may follow the removal of the process row
                if thread is not threading.current_thread():
                    thread.join(10)
            ServingProcess.objects.filter(pk=self.process_id).delete()
        except Exception:
            logger.exception("Could not remove this serving process's record")
        finally:
            connection.close()

    def _heartbeat(self, *, cleanup: bool) -> None:
        now = timezone.now()
        updated = ServingProcess.objects.filter(pk=self.process_id).update(
            last_seen=now, generation_seen=self._generation_seen or 0
        )
        if not updated:  # first beat, or our row was cleaned up as stale while we were busy
            self._register(now)
            for view in self.servables.values():
                for version in view.versions.values():
                    self._report(version)
        if cleanup:
            stale = now - timedelta(seconds=settings.INFERENCE_STALE_SECONDS)
            ServingProcess.objects.filter(last_seen__lt=stale).delete()

    def _register(self, now: datetime) -> None:
        ServingProcess.objects.update_or_create(
            pk=self.process_id,
            defaults={"host": socket.gethostname(), "pid": os.getpid(), "started_at": self.started_at,
                      "last_seen": now, "generation_seen": self._generation_seen or 0},
        )  # fmt: skip


def _plan(servable: str, version: int, *, content: Any, **options: Any) -> VersionPlan:
    fingerprint = (
        options.get("model_id"), str(options.get("folder")), content, options["device"],
        orjson.dumps(options["plugin_config"], option=orjson.OPT_SORT_KEYS), options["nireq"],
        orjson.dumps(options["shape"]), options["batch_size"], options["warmup"], options.get("task", ""),
        orjson.dumps(options.get("scheduler"), option=orjson.OPT_SORT_KEYS),
    )  # fmt: skip
    return VersionPlan(servable, version, fingerprint=fingerprint, **options)


def _same_plan(version: LoadedVersion) -> VersionPlan:
    """A plan that keeps a loaded version exactly as it is."""
    return VersionPlan(
        version.name, version.version, "", {}, None, None, None, False, fingerprint=version.fingerprint
    )


def _plugin_config(configured: dict[str, Any], *, defaults: bool = True) -> dict[str, str]:
    """`defaults`: add the server's default hints (tensor models; genai pipelines choose their own)."""
    config = (
        {}
        if not defaults or {"PERFORMANCE_HINT", "NUM_STREAMS"} & set(configured)
        else dict(settings.INFERENCE_DEFAULT_PLUGIN_CONFIG)
    )
    for key, value in configured.items():
        config[key] = ("YES" if value else "NO") if isinstance(value, bool) else str(value)
    return config


def _reshape(model: ov.Model, shape: Any, batch_size: int | None) -> None:
    """OVMS `shape` ("(1,3,224,224)", a list, or {input: shape}) and `batch_size` settings."""
    shapes: dict[str, ov.PartialShape] = {}
    if shape not in (None, "", "auto", {}):
        if isinstance(shape, dict):
            for name, value in shape.items():
                if value != "auto":
                    shapes[name] = _partial_shape(value)
        else:
            if len(model.inputs) != 1:
                raise ValueError("Anonymous fixed shape is invalid for models with multiple inputs")
            shapes[model.inputs[0].get_any_name()] = _partial_shape(shape)
    if batch_size:
        for port in model.inputs:
            name = port.get_any_name()
            current = shapes.get(name, port.get_partial_shape())
            if current.rank.is_static and len(current) > 0:
                current[0] = ov.Dimension(batch_size)
                shapes[name] = current
    if shapes:
        known = {name for port in model.inputs for name in port.get_names()}
        missing = set(shapes) - known
        if missing:
            raise ValueError(f"Shape from config not found in model: {', '.join(sorted(missing))}")
        model.reshape(shapes)


def _partial_shape(value: Any) -> ov.PartialShape:
    if isinstance(value, list):
        tokens = [str(v) for v in value]
    elif isinstance(value, str):
        tokens = [t.strip() for t in value.strip().strip("()[]").split(",") if t.strip()]
    else:
        raise ValueError(f"The provided shape is in wrong format: {value!r}")
    dims = []
    for token in tokens:
        if ":" in token:
            low, high = token.split(":", 1)
            dims.append(ov.Dimension(int(low or 0), int(high) if high else -1))
        elif token in ("-1", "?"):
            dims.append(ov.Dimension())
        else:
            dims.append(ov.Dimension(int(token)))
    return ov.PartialShape(dims)


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        with _runtime_lock:
            if _runtime is None:
                _runtime = Runtime()
    return _runtime


def startup() -> None:
    """ASGI lifespan startup hook (settings.ASGI_STARTUP_HOOKS): start reconciling in the background."""
    get_runtime().start(asyncio.get_running_loop())


def shutdown() -> None:
    if _runtime is not None:
        _runtime.stop()
