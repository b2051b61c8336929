"""Reads from the registry. Lists are built from plain value rows: one query, no per-row work in the ORM."""

from datetime import datetime
from typing import Any

from access.redaction import source_url_for_caller
from registry.models import Model
from registry.services import ModelNotFound
from registry.signature import with_pipeline

# Query parameter -> ORM lookup. Text filters are case-insensitive substrings; version is exact.
LIST_FILTERS = {
    "name": "name__icontains",
    "project_name": "project_name__icontains",
    "category": "category__icontains",
    "architecture": "architecture__icontains",
    "precision": "precision__icontains",
    "version": "version",
    "task": "task",
}

_COLUMNS = (
    "id", "name", "target_device", "created_date", "last_updated_date", "precision", "size", "version", "format",
    "origin", "file", "project_id", "project_name", "category", "target_device_type", "score", "overview",
    "optimization_capabilities", "labels", "architecture", "detected_format", "sha256", "source_url", "signature",
    "artifact_only", "task",
)  # fmt: skip


def model_list(*, filters: dict[str, str], limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
    queryset = Model.objects.filter(**{LIST_FILTERS[key]: value for key, value in filters.items()})
    rows = queryset.values(*_COLUMNS)
    if limit is not None:
        rows = rows[offset : offset + limit]
    elif offset:
        rows = rows[offset:]
    return list(rows)


def model_count(*, filters: dict[str, str]) -> int:
    return Model.objects.filter(**{LIST_FILTERS[key]: value for key, value in filters.items()}).count()


def model_row(*, model_id: str) -> dict[str, Any]:
    row = Model.objects.filter(pk=model_id).values(*_COLUMNS).first()
    if row is None:
        raise ModelNotFound()
    return row


def model_get(*, model_id: str) -> Model:
    model = Model.objects.filter(pk=model_id).first()
    if model is None:
        raise ModelNotFound()
    return model


def _timestamp(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def model_to_dict(row: dict[str, Any], *, files_base_url: str) -> dict[str, Any]:
    """The API shape of one model (documented by `registry.serializers.ModelOutSerializer`).

    `files_base_url` is the absolute URL of /models/ so each row costs one string join, not a URL reverse.
    """
    return {
        "id": row["id"],
        "name": row["name"],
        "target_device": row["target_device"],
        "created_date": _timestamp(row["created_date"]),
        "last_updated_date": _timestamp(row["last_updated_date"]),
        "precision": [item for item in row["precision"].split(",") if item],
        "size": row["size"],
        "version": row["version"],
        "format": row["format"],
        "origin": row["origin"],
        "file_url": f"{files_base_url}{row['id']}/files" if row["file"] else None,
        "project_id": row["project_id"],
        "project_name": row["project_name"],
        "category": row["category"],
        "target_device_type": row["target_device_type"],
        "score": row["score"],
        "overview": row["overview"],
        "optimization_capabilities": row["optimization_capabilities"],
        "labels": row["labels"],
        "architecture": row["architecture"],
        "detected_format": row["detected_format"],
        "task": row["task"],
        "sha256": row["sha256"],
        "source_url": source_url_for_caller(row["source_url"]),  # query and userinfo only for writers
        "signature": with_pipeline(row["signature"], row["task"]),
        "artifact_only": row["artifact_only"],
    }
