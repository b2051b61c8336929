"""Reads of the model lifecycle: the spec's Model object and the download progress of one model."""

from typing import Any

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.timesince import timesince

from inference.cache import identity_for
from inference.lifecycle.errors import LifecycleNotFound, SnapshotGone
from inference.lifecycle.models import (
    ACTIVE_STATUSES,
    DownloadJob,
    DownloadStatus,
    ModelTraits,
    ModelUsage,
    type_from_precision,
)
from inference.lifecycle.nodes import download_state, download_state_of
from inference.models import VersionState
from inference.selectors import served_versions_of, serving_status, version_reports
from registry.models import Model


def _bytes(value: int) -> dict[str, Any]:
    return {"value": value, "readable": filesizeformat(value).replace("\xa0", " ")}


def description_of(overview: Any) -> str:
    if isinstance(overview, dict):
        return str(overview.get("description") or "")
    return overview if isinstance(overview, str) else ""


def serving_memory(model: Model) -> tuple[str | None, bool, int | None]:
    """(servable:version, loaded, ram) of a served model: loaded when every live server process has it
    AVAILABLE; ram = the memory those processes report for it, summed."""
    served = served_versions_of(model.pk)
    if not served:
        return None, False, None
    row = served[0]
    status = serving_status(row.servable.name, row.version)
    ram = sum(
        report.ram_bytes or 0
        for report in version_reports(row.servable.name, row.version)
        if report.state == VersionState.AVAILABLE
    )
    return f"{row.servable.name}:{row.version}", status.loaded, ram if status.loaded else None


def type_of(model: Model, traits: ModelTraits | None) -> str:
    """The Pieces type: what an update set, else from the first listed precision."""
    if traits is not None and traits.type:
        return traits.type
    return type_from_precision(model.precision_list)


def model_object(model: Model) -> dict[str, Any]:
    """The Model object of the lifecycle API (documented by `serializers.ModelObjectSerializer`)."""
    identity = identity_for(model)
    job = DownloadJob.objects.filter(pk=model.pk).first()
    frame, _ = download_state_of(model.pk, job)
    unique, loaded, ram = serving_memory(model)
    size = model.size or (job.bytes_total if job and job.phase == "fetch" else 0)
    traits = ModelTraits.objects.filter(pk=model.pk).first()
    device = (model.target_device or settings.INFERENCE_DEFAULT_DEVICE or "CPU").upper()
    return {
        "id": model.pk,
        "name": model.name,
        "version": model.version,
        "created": {
            "value": model.created_date.isoformat().replace("+00:00", "Z"),
            "readable": f"{timesince(model.created_date)} ago".replace("\xa0", " "),
        },
        "description": description_of(model.overview),
        "cloud": False,
        "type": type_of(model, traits),
        "usage": traits.usage if traits is not None else ModelUsage.UNKNOWN,
        "format": model.format or model.detected_format or "unknown",
        "custom": model.is_custom,
        "downloaded": frame["status"] == DownloadStatus.COMPLETED,  # on every live node
        "downloading": frame["status"] in ACTIVE_STATUSES,
        "loaded": loaded,
        "unique": unique or str(identity),
        "bytes": _bytes(size),
        "ram": _bytes(ram) if ram is not None else None,
        "cpu": "CPU" in device,
        "download": frame,
    }


def model_snapshot(*, model_id: str) -> dict[str, Any]:
    model = Model.objects.filter(pk=model_id).first()
    if model is None:
        raise SnapshotGone(model_id)
    return model_object(model)


def model_get(*, model_id: str) -> Model:
    model = Model.objects.filter(pk=model_id).first()
    if model is None:
        raise LifecycleNotFound(model_id)
    return model


def model_exists(*, model_id: str) -> bool:
    return Model.objects.filter(pk=model_id).exists()


def download_progress(*, model_id: str) -> dict[str, Any]:
    """The current download progress of a model (the frame the WebSocket would send now)."""
    if not model_exists(model_id=model_id):
        raise LifecycleNotFound(model_id)
    return download_frame(model_id=model_id)[0]


def download_frame(*, model_id: str) -> tuple[dict[str, Any], int]:
    """The WebSocket's view of a model's download across the live nodes: (frame, change stamp)."""
    return download_state(model_id)
