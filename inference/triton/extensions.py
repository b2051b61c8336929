"""The Triton extensions against this process's runtime: what the HTTP handlers (inference/handlers.py) and
the gRPC servicer call. Each returns plain dicts/lists (or arrays) and raises InferenceError (OVMS's texts for
unknown models and versions, Triton's for the extensions' own failures)."""

import asyncio
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
from django.conf import settings

from inference.metrics import flush_metrics
from inference.protocols import errors
from inference.protocols.tensors import TensorSpec
from inference.runtime import LoadedVersion, Runtime
from inference.triton import classification, model_config, repository, statistics
from inference.triton.repository import release_connection
from registry.models import Model

_labels: "weakref.WeakKeyDictionary[LoadedVersion, list[str]]" = weakref.WeakKeyDictionary()


async def model_statistics(runtime: Runtime, name: str = "", version: int | None = None) -> dict[str, Any]:
    """Triton's {"model_stats": [...]} for every available version (no name), a model's, or one version."""
    versions = statistics.selected_versions(runtime.servables, name, version)
    flush_metrics()  # this process's latest; the others write theirs twice a second
    totals = await asyncio.to_thread(statistics.read_totals)
    return statistics.model_statistics(versions, totals)


def model_configuration(runtime: Runtime, name: str, version: int | None = None) -> dict[str, Any]:
    """Triton's model config of the version a request would get (the default one without `version`)."""
    view = runtime.servable(name)
    loaded = view.resolve(version)
    device = str(loaded.fingerprint[3]) if len(loaded.fingerprint) > 3 and loaded.fingerprint[3] else "CPU"
    return model_config.model_config(
        name=name, inputs=loaded.inputs, outputs=loaded.outputs, instances=loaded.nireq, device=device,
        versions=view.available_versions(),
    )  # fmt: skip


async def repository_index(runtime: Runtime, *, ready: bool = False) -> list[dict[str, str]]:
    return await asyncio.to_thread(repository.repository_index, servables=runtime.servables, ready=ready)


async def model_load(runtime: Runtime, name: str, parameters: dict[str, Any] | None = None) -> None:
    """Serve `name` everywhere (Triton's load, optionally with a "config" override) and wait until it is."""
    await asyncio.to_thread(
        repository.model_load, name=name, parameters=parameters or {}, servables=runtime.servables,
        timeout=settings.LIFECYCLE_LOAD_WAIT_SECONDS,
    )  # fmt: skip


async def model_unload(runtime: Runtime, name: str) -> None:
    await asyncio.to_thread(
        repository.model_unload, name=name, servables=runtime.servables,
        timeout=settings.LIFECYCLE_LOAD_WAIT_SECONDS,
    )  # fmt: skip


async def classify(
    version: LoadedVersion, outputs: Sequence[tuple[TensorSpec, bool, np.ndarray]], classes: dict[str, int]
) -> list[tuple[TensorSpec, bool, np.ndarray]]:
    """Replace the outputs named in `classes` by their top-k classification (labels from the registry model)."""
    labels = await _labels_of(version)
    batching = version.metrics.batching if version.metrics is not None else False
    return [
        (spec, binary, classification.top_k(array, classes[spec.name], batching=batching, labels=labels))
        if spec.name in classes else (spec, binary, array)
        for spec, binary, array in outputs
    ]  # fmt: skip


async def _labels_of(version: LoadedVersion) -> list[str]:
    """The registry model's labels, read once per loaded version (none for config.json models, or while the
    database cannot be reached)."""
    cached = _labels.get(version)
    if cached is not None:
        return cached
    model_id = version.fingerprint[0] if version.fingerprint else None
    if not model_id:
        return []
    try:
        labels = await asyncio.to_thread(_read_labels, str(model_id))
    except Exception:  # noqa: BLE001 - serving goes on without labels
        return []
    _labels[version] = labels
    return labels


def _read_labels(model_id: str) -> list[str]:
    try:
        raw = Model.objects.filter(pk=model_id).values_list("labels", flat=True).first()
    finally:
        release_connection()
    return [str(label.get("name", label)) if isinstance(label, dict) else str(label) for label in raw or []]


__all__ = ["classify", "errors", "model_configuration", "model_load", "model_statistics", "model_unload",
           "repository_index"]  # fmt: skip
