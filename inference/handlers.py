"""Request handling of the inference protocols, shared by the lean ASGI path (inference/asgi.py) and the
Django/DRF views (inference/apis.py): (method, path, body) in, a `Reply` out. No database access."""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import openvino as ov
import orjson

from inference import metrics, shadow
from inference.protocols import errors, kserve, limits, tfs
from inference.protocols.errors import InferenceError
from inference.protocols.routing import Kind, Route, resolve
from inference.protocols.tensors import loads
from inference.protocols.validation import RequestTensor, avalidate_inputs
from inference.runtime import AVAILABLE, LoadedVersion, Runtime, ServableView, flush_metrics
from inference.triton import extensions as triton
from inference.triton import repository

logger = logging.getLogger(__name__)

JSON = b"application/json"
OCTET_STREAM = b"application/octet-stream"
_EMPTY = b""
SERVER_VERSION = f"modelhub 0.1.0 (OpenVINO {ov.get_version().split('-')[0]})"


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    content_type: bytes = JSON
    header_length: int | None = None  # Inference-Header-Content-Length of a binary KServe response


def error_reply(error: InferenceError) -> Reply:
    return Reply(error.status, error.body())


def target(runtime: Runtime, route: Route) -> LoadedVersion | None:
    """The model version an inference request will run on, found before its body is read, decompressed or
    parsed (issue 20 finding 3): a request for a model that is not served costs nothing. None for other routes."""
    if route.kind is Kind.TFS_PREDICT:
        if route.processing_method != "predict":
            raise errors.REST_NOT_FOUND
    elif route.kind is not Kind.KFS_INFER:
        return None
    return runtime.servable(route.name).resolve(route.version)


async def handle(
    runtime: Runtime,
    method: str,
    path: str,
    body: bytes | bytearray,
    route: Route | None = None,
    *,
    header_length: bytes | None = None,
    version: LoadedVersion | None = None,
) -> Reply:
    """`route`: already resolved by the caller (the lean path resolves it once to decide access);
    `header_length`: the Inference-Header-Content-Length header, the only header a handler reads;
    `version`: `target(runtime, route)`, when the caller looked it up before reading the body."""
    try:
        if route is None:
            route = resolve(method, path)
        kind = route.kind
        if kind is Kind.KFS_INFER:
            version = version or target(runtime, route)
            assert version is not None
            return await _kserve_infer(runtime, route, version, header_length, body)
        if kind is Kind.TFS_PREDICT:
            version = version or target(runtime, route)
            assert version is not None
            return await _tfs_predict(runtime, route, version, body)
        if kind is Kind.KFS_LIVE:
            return Reply(200, _EMPTY)
        if kind is Kind.KFS_READY:
            return Reply(200 if runtime.ready else 503, _EMPTY)
        if kind is Kind.KFS_SERVER_METADATA:
            return Reply(200, kserve.server_metadata(SERVER_VERSION))
        if kind is Kind.KFS_MODEL_READY:
            return _kserve_model_ready(runtime, route)
        if kind is Kind.KFS_MODEL_METADATA:
            return _kserve_metadata(runtime, route)
        if kind is Kind.TFS_STATUS:
            return _tfs_status(runtime, route)
        if kind is Kind.TFS_METADATA:
            return _tfs_metadata(runtime, route)
        if kind is Kind.CONFIG_STATUS:
            return Reply(200, all_statuses(runtime))
        if kind is Kind.CONFIG_RELOAD:
            changed = await runtime.reload()
            return Reply(201 if changed else 200, all_statuses(runtime))
        if kind in _TRITON_KINDS:
            return await _triton(runtime, route, body)
        if kind is Kind.METRICS:
            text, content_type = await _metrics_text()
            return Reply(200, text, content_type.encode())
        raise errors.INVALID_URL
    except InferenceError as error:
        return error_reply(error)
    except Exception:
        logger.exception("Unexpected failure answering %s %s", method, path)
        return error_reply(errors.INTERNAL_ERROR())


async def _kserve_infer(
    runtime: Runtime,
    route: Route,
    version: LoadedVersion,
    length_header: bytes | None,
    body: bytes | bytearray,
) -> Reply:
    started = time.perf_counter()
    try:
        length = kserve.header_length(length_header, len(body))
        json_part = body if length is None else memoryview(body)[:length]
        limits.check_json(json_part, inputs=version.inputs)
        request = kserve.parse_infer(body, length)
        tensors: dict[str, RequestTensor] = {}
        for tensor in request.inputs:
            tensors.setdefault(tensor.name, tensor)
        arrays = await avalidate_inputs(version.inputs_sorted, tensors, len(request.inputs))
        selected = kserve.selected_outputs(request, version.outputs)
        inferring = time.perf_counter()
        results = await version.infer(arrays)
        returned = time.perf_counter()
        waited = version.metrics.last if version.metrics else (0.0, 0.0)
        outputs = [(spec, binary, results[spec.index]) for spec, binary in selected]
        if request.outputs and (classes := kserve.class_counts(request)):
            outputs = await triton.classify(version, outputs, classes)
        payload, header_length = kserve.infer_response(route.name, version.version, request.id, outputs)
    except InferenceError as error:
        count_failure(runtime, route.name, route.version, version, metrics.KSERVE, "ModelInfer", started)
        return error_reply(error)
    count_success(version, metrics.KSERVE, "ModelInfer", arrays, (started, inferring, returned), waited)
    shadow.offer(runtime, route.name, route.version, version, arrays, results, metrics.KSERVE, "ModelInfer")
    if header_length is None:
        return Reply(200, payload)
    return Reply(200, payload, OCTET_STREAM, header_length)


async def _tfs_predict(
    runtime: Runtime, route: Route, version: LoadedVersion, body: bytes | bytearray
) -> Reply:
    started = time.perf_counter()
    try:
        limits.check_json(body, inputs=version.inputs)
        order, tensors, sent = tfs.parse_predict(loads(body), version.inputs_by_name)
        arrays = await avalidate_inputs(version.inputs_sorted, tensors, sent, tfs=True)
        inferring = time.perf_counter()
        results = await version.infer(arrays)
        returned = time.perf_counter()
        waited = version.metrics.last if version.metrics else (0.0, 0.0)
        payload = tfs.predict_response(order, [(spec.name, results[spec.index]) for spec in version.outputs])
    except InferenceError as error:
        count_failure(runtime, route.name, route.version, version, metrics.TFS, "Predict", started)
        return error_reply(error)
    count_success(version, metrics.TFS, "Predict", arrays, (started, inferring, returned), waited)
    shadow.offer(runtime, route.name, route.version, version, arrays, results, metrics.TFS, "Predict")
    return Reply(200, payload)


# The render of /metrics in progress on each event loop: requests that arrive meanwhile share it, so however
# many scrapes (anonymous under "writes") arrive at once, a process renders one at a time, in one thread.
_metrics_renders: dict[asyncio.AbstractEventLoop, asyncio.Task[tuple[bytes, str]]] = {}


async def _metrics_text() -> tuple[bytes, str]:
    loop = asyncio.get_running_loop()
    render = _metrics_renders.get(loop)
    if render is None or render.done():
        flush_metrics()
        render = _metrics_renders[loop] = loop.create_task(asyncio.to_thread(metrics.render))
    return await asyncio.shield(render)  # one caller's disconnect must not cancel the others' render


_TRITON_KINDS = frozenset(
    (
        Kind.KFS_STATISTICS,
        Kind.KFS_MODEL_CONFIG,
        Kind.REPOSITORY_INDEX,
        Kind.REPOSITORY_LOAD,
        Kind.REPOSITORY_UNLOAD,
    )
)


async def _triton(runtime: Runtime, route: Route, body: bytes | bytearray) -> Reply:
    """Triton's extensions: statistics, model configuration, model repository."""
    kind = route.kind
    if kind is Kind.KFS_STATISTICS:
        return Reply(200, orjson.dumps(await triton.model_statistics(runtime, route.name, route.version)))
    if kind is Kind.KFS_MODEL_CONFIG:
        return Reply(200, orjson.dumps(triton.model_configuration(runtime, route.name, route.version)))
    limits.check_json(body, inputs=())  # no model: a few thousand values
    document = repository.parse_request(body)
    if kind is Kind.REPOSITORY_INDEX:
        index = await triton.repository_index(runtime, ready=document.get("ready") is True)
        return Reply(200, orjson.dumps(index))
    parameters = document.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise errors.COULD_NOT_PARSE_PARAMETERS
    if kind is Kind.REPOSITORY_LOAD:
        await triton.model_load(runtime, route.name, parameters)
    else:
        await triton.model_unload(runtime, route.name)
    return Reply(200, _EMPTY)


def count_success(
    version: LoadedVersion,
    api: str,
    method: str,
    arrays: dict[int, Any],
    times: tuple[float, float, float],
    waited: tuple[float, float],
    interface: str = metrics.REST,
) -> None:
    """Counts and times for /metrics and Triton's statistics (written out in bulk by VersionMetrics.flush)."""
    stats = version.metrics
    if stats is not None:
        stats.count(api, method, True, interface)
        batch = getattr(next(iter(arrays.values()), None), "shape", (1,))[0] if stats.batching else 1
        done = stats.done if interface == metrics.REST else stats.grpc_done
        done.append((batch, *times, time.perf_counter(), waited))


def count_failure(
    runtime: Runtime,
    name: str,
    version_number: int | None,
    version: LoadedVersion | None,
    api: str,
    method: str,
    started: float,
    interface: str = metrics.REST,
) -> None:
    """Failures are counted for models that exist (OVMS has no reporter for unknown names)."""
    if version is None:
        view = runtime.servables.get(name)
        if view is None:
            return
        try:
            version = view.resolve(version_number)
        except InferenceError:
            return
    if version.metrics is not None:
        version.metrics.count(api, method, False, interface)
        version.metrics.failed.append(time.perf_counter() - started)


def _kserve_model_ready(runtime: Runtime, route: Route) -> Reply:
    view = runtime.servable(route.name)
    version = view.default_choice() if route.version is None else view.versions.get(route.version)
    if version is None:
        raise errors.MODEL_VERSION_MISSING
    if version.state != AVAILABLE:
        raise errors.MODEL_VERSION_NOT_LOADED_YET
    if version.metrics is not None:
        version.metrics.count(metrics.KSERVE, "ModelReady", True)
    return Reply(200, _EMPTY)


def _kserve_metadata(runtime: Runtime, route: Route) -> Reply:
    view = runtime.servable(route.name)
    version = view.resolve(route.version)
    if version.metrics is not None:
        version.metrics.count(metrics.KSERVE, "ModelMetadata", True)
    return Reply(
        200, kserve.metadata_response(route.name, view.available_versions(), version.inputs, version.outputs)
    )


def _tfs_metadata(runtime: Runtime, route: Route) -> Reply:
    view = runtime.servable(route.name)
    version = view.resolve(route.version)
    if version.metrics is not None:
        version.metrics.count(metrics.TFS, "GetModelMetadata", True)
    return Reply(200, tfs.metadata_response(route.name, version.version, version.inputs, version.outputs))


def _tfs_status(runtime: Runtime, route: Route) -> Reply:
    view = runtime.servable(route.name)
    if route.version is not None:
        version = view.versions.get(route.version)
        if version is None:
            raise errors.MODEL_VERSION_MISSING
        return Reply(200, tfs.status_response([_status(version)]))
    return Reply(200, tfs.status_response(_statuses(view)))


def _status(version: LoadedVersion) -> dict[str, Any]:
    return tfs.version_status(version.version, version.state_name, version.error_code)


def _statuses(view: ServableView) -> list[dict[str, Any]]:
    return [_status(view.versions[number]) for number in sorted(view.versions)]


def all_statuses(runtime: Runtime) -> bytes:
    """Every servable's status, the body of GET /v1/config and POST /v1/config/reload."""
    servables = runtime.servables
    return orjson.dumps(
        {name: {"model_version_status": _statuses(servables[name])} for name in sorted(servables)}
    )
