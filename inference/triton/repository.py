"""Triton's model repository extension mapped onto modelhub: the repository is the registry (every registry
model, under the servable name it is or would be served as) plus what is served; load and unload go through
inference.services (as `manage.py serve_model --wait` / `unserve_model` do) and return once every live server
process has done it. Synchronous (database, waiting): call off the event loop."""

import logging
from collections.abc import Mapping
from typing import Any

import openvino as ov
import orjson
from django.db import connection

from config.errors import ServiceError
from inference import cache
from inference.models import ServableIdentity, ServedVersion, VersionState
from inference.runtime import AVAILABLE, END, LOADING, START, UNLOADING, ServableView, dim_of
from inference.selectors import live_processes, serving_status
from inference.services import servable_load, servable_unload, wait_for_version
from inference.triton import TritonError
from registry.models import Model

logger = logging.getLogger(__name__)

_STATES = {
    START: "LOADING",
    LOADING: "LOADING",
    AVAILABLE: "READY",
    UNLOADING: "UNLOADING",
    END: "UNAVAILABLE",
}


def parse_request(body: bytes | bytearray) -> dict[str, Any]:
    """The JSON body of an index/load/unload request ({} when empty)."""
    if not body.strip():
        return {}
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise TritonError(f"failed to parse the request JSON buffer: {exc.msg} at {exc.pos}") from None
    if not isinstance(document, dict):
        raise TritonError("failed to parse the request JSON buffer: not an object")
    return document


def repository_index(*, servables: Mapping[str, ServableView], ready: bool = False) -> list[dict[str, str]]:
    """Every served version (its state in this server process) and every registry model that is not served
    (UNAVAILABLE), sorted by name and version; `ready` keeps only the READY ones."""
    entries: dict[tuple[str, str], dict[str, str]] = {}
    for name, view in servables.items():
        for number, version in view.versions.items():
            reason = version.error if version.error_code != "OK" else ""
            state = "UNAVAILABLE" if reason else _STATES[version.state]
            if version.state == END:
                reason = "unloaded"
            entries[(name, str(number))] = {
                "name": name,
                "version": str(number),
                "state": state,
                "reason": reason,
            }
    if not ready:
        try:
            for name, number_text in _registry_names():
                entries.setdefault(
                    (name, number_text),
                    {"name": name, "version": number_text, "state": "UNAVAILABLE", "reason": "unloaded"},
                )
        finally:
            release_connection()
    listed = sorted(
        entries.values(), key=lambda e: (e["name"], int(e["version"]) if e["version"].isdigit() else 0)
    )
    return [entry for entry in listed if entry["state"] == "READY"] if ready else listed


def _registry_names() -> list[tuple[str, str]]:
    rows = ServableIdentity.objects.values_list("model_id", "servable_name", "version")
    identities = {model_id: (name, str(version)) for model_id, name, version in rows}
    names = []
    for model_id, model_name, model_version in Model.objects.values_list("pk", "name", "version"):
        if model_id in identities:
            names.append(identities[model_id])
        else:
            digits = model_version.isdigit() and int(model_version) > 0
            names.append((cache.servable_name_for(model_name), str(int(model_version)) if digits else ""))
    return names


def model_load(
    *, name: str, parameters: Mapping[str, Any], servables: Mapping[str, ServableView], timeout: float
) -> None:
    """Serve `name` (or serve it again with a config override) and wait until every live server process has it.

    `name` is a servable that is served, or the servable name of a registry model (its highest version is
    served). `parameters["config"]`: a Triton model config (JSON text) whose `max_batch_size` (the first
    dimension of every input becomes 1..N; 0 = the model's own shapes) and `instance_group[].count` (nireq)
    apply."""
    try:
        view = servables.get(name)
        if view is not None and view.source == "config":
            return  # served from MODEL_CONFIG_PATH: always loaded
        if any(key.startswith("file:") for key in parameters):
            raise TritonError(
                f"failed to load '{name}', model files in a load request are not supported: register the model"
            )
        model = _model_for(name)
        if model is None:
            raise TritonError(
                f"failed to load '{name}', no registry model is served or servable under this name"
            )
        settings = _overrides(name, parameters.get("config"), model)
        try:
            row = servable_load(model_id=model.pk, config={"name": name, **settings})
        except ServiceError as exc:
            raise TritonError(f"failed to load '{name}', {_message(exc)}") from None
        if not live_processes().exists():
            return  # no server process yet: they load it when they start
        if not wait_for_version(name, row.version, timeout=timeout):
            status = serving_status(name, row.version)
            reasons = "; ".join(status.errors) or f"not available on every server process within {timeout:g}s"
            raise TritonError(f"failed to load '{name}' version {row.version}: {reasons}")
    finally:
        release_connection()


def model_unload(*, name: str, servables: Mapping[str, ServableView], timeout: float) -> None:
    """Stop serving every version of `name` and wait until no live server process holds them."""
    try:
        view = servables.get(name)
        if view is not None and view.source == "config":
            raise TritonError(
                f"failed to unload '{name}', it is served from MODEL_CONFIG_PATH (edit that file)"
            )
        rows = list(
            ServedVersion.objects.filter(servable__name=name, model__isnull=False).values_list(
                "model_id", "version"
            )
        )
        if not rows:
            if view is None and _model_for(name) is None:
                raise TritonError(f"failed to unload '{name}', no model with this name")
            return  # known but not served: nothing to do
        try:
            for model_id in {model_id for model_id, _ in rows}:
                servable_unload(model_id=model_id)
        except ServiceError as exc:
            raise TritonError(f"failed to unload '{name}', {_message(exc)}") from None
        for _, version in rows:
            if not wait_for_version(name, version, timeout=timeout, state=VersionState.END):
                raise TritonError(
                    f"failed to unload '{name}' version {version} from every server process within {timeout:g}s"
                )
    finally:
        release_connection()


def _model_for(name: str) -> Model | None:
    """The registry model behind `name`: the highest version served under it, else the highest registry
    version whose servable name it is."""
    served = (
        ServedVersion.objects.filter(servable__name=name, model__isnull=False).order_by("-version").first()
    )
    if served is not None:
        return served.model
    identity = (
        ServableIdentity.objects.filter(servable_name=name)
        .order_by("-version")
        .select_related("model")
        .first()
    )
    if identity is not None:
        return identity.model
    candidates = [
        model
        for model in Model.objects.filter(serving_identity__isnull=True).only(
            "pk", "name", "version", "created_date"
        )
        if cache.servable_name_for(model.name) == name
    ]
    return max(candidates, key=_version_key, default=None)


def _version_key(model: Model) -> tuple[int, str]:
    return (int(model.version) if model.version.isdigit() else -1, str(model.created_date))


def _overrides(name: str, config: Any, model: Model) -> dict[str, Any]:
    """Serving settings from a Triton config override (JSON text)."""
    if config is None:
        return {}
    if isinstance(config, str):
        try:
            config = orjson.loads(config)
        except orjson.JSONDecodeError as exc:
            raise TritonError(
                f"failed to load '{name}', failed to parse the config: {exc.msg} at {exc.pos}"
            ) from None
    if not isinstance(config, dict):
        raise TritonError(f"failed to load '{name}', the config must be a JSON object")
    if config.get("name") not in (None, "", name):
        raise TritonError(f"failed to load '{name}', the config names another model: {config['name']}")
    settings: dict[str, Any] = {}
    if "max_batch_size" in config:
        batch = _integer(config["max_batch_size"], name, "max_batch_size")
        try:
            settings["shape"] = _batch_shapes(model, batch) if batch > 0 else None
        except (cache.MaterializeFailed, RuntimeError, ValueError) as exc:
            raise TritonError(f"failed to load '{name}', max_batch_size {batch}: {exc}") from None
    groups = config.get("instance_group")
    if groups is not None:
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            raise TritonError(f"failed to load '{name}', instance_group must be a list of objects")
        count = sum(_integer(g.get("count", 1), name, "instance_group count") for g in groups)
        settings["nireq"] = count or None
    return settings


def _integer(value: Any, name: str, field: str) -> int:
    """A non-negative integer below 2**31 (Triton's int32 fields; a longer digit string is never converted)."""
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    if not text.isascii() or not text.isdigit() or len(text) > 10 or int(text) >= 2**31:
        raise TritonError(f"failed to load '{name}', {field} must be a non-negative integer below 2^31")
    return int(text)


def _batch_shapes(model: Model, batch: int) -> dict[str, str]:
    """OVMS `shape` settings that make the first dimension of every input a batch of 1..`batch`."""
    folder = cache.materialize(model)
    network = ov.Core().read_model(str(cache.model_file_in(folder)))
    shapes = {}
    for port in network.inputs:
        partial = port.get_partial_shape()
        if partial.rank.is_dynamic or len(partial) == 0:
            raise ValueError(f"input {port.get_any_name()} has no first dimension to batch")
        dims = [f"1:{batch}"] + [str(dim_of(d)) for d in list(partial)[1:]]
        shapes[port.get_any_name()] = "(" + ",".join(dims) + ")"
    return shapes


def _message(exc: ServiceError) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg')}" for e in errors)
    return exc.message


def release_connection() -> None:
    """Close this worker thread's database connection (threads of asyncio.to_thread are reused and Django
    closes connections only at the end of its own requests); not inside a test's transaction."""
    if not connection.in_atomic_block:
        connection.close()
