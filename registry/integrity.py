"""Database/storage agreement checks behind `manage.py registry_fsck`.

A crash can leave a stored file without its row (killed between storing and inserting, or between deleting the
row and the file) or a temp upload file; an operator deleting files by hand can leave a row without its file.
"""

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

from config.errors import ServiceError
from registry.artifacts import delete_from_storage
from registry.models import Model
from registry.services import model_delete

ARTIFACT_PREFIX = "models"


@dataclass
class BrokenModel:
    id: str
    name: str
    version: str
    file: str


@dataclass
class FsckReport:
    models_checked: int = 0
    files_checked: int = 0
    orphan_files: list[str] = field(default_factory=list)
    broken_models: list[BrokenModel] = field(default_factory=list)
    stale_temp_files: list[Path] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.orphan_files or self.broken_models or self.stale_temp_files)


@dataclass
class RepairResult:
    deleted_files: list[str] = field(default_factory=list)
    deleted_models: list[str] = field(default_factory=list)
    deleted_temp_files: list[Path] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def _stored_names() -> list[str]:
    try:
        _, files = default_storage.listdir(ARTIFACT_PREFIX)
    except FileNotFoundError:  # nothing stored yet (local disk)
        return []
    return [f"{ARTIFACT_PREFIX}/{name}" for name in files]


def _modified_ago(name: str, now: datetime) -> float:
    try:
        return (now - default_storage.get_modified_time(name)).total_seconds()
    except (NotImplementedError, FileNotFoundError):
        return float("inf")


def registry_check(*, grace_seconds: float = 600) -> FsckReport:
    """Compare rows with stored files. Files younger than `grace_seconds` are skipped: an upload in flight
    stores its file a moment before its row is committed."""
    now = datetime.now(UTC)
    stored = set(_stored_names())
    rows = list(Model.objects.exclude(file="").values_list("id", "name", "version", "file"))
    referenced = {row[3] for row in rows}
    report = FsckReport(models_checked=Model.objects.count(), files_checked=len(stored))
    report.orphan_files = sorted(
        name for name in stored - referenced if _modified_ago(name, now) >= grace_seconds
    )
    report.broken_models = [
        BrokenModel(id=model_id, name=name, version=version, file=file)
        for model_id, name, version, file in rows
        if file not in stored and not default_storage.exists(file)
    ]
    temp_dir = Path(settings.FILE_UPLOAD_TEMP_DIR)
    if temp_dir.is_dir():
        cutoff = time.time() - max(grace_seconds, 3600)  # an upload of many GB can take a while
        report.stale_temp_files = sorted(
            path for path in temp_dir.iterdir() if path.is_file() and path.stat().st_mtime < cutoff
        )
    return report


def registry_repair(report: FsckReport) -> RepairResult:
    """Delete what `registry_check` found: orphan files, rows without a file (through `model_delete`, so a
    model in use is refused, not removed), and stale temp files."""
    result = RepairResult()
    for name in report.orphan_files:
        delete_from_storage(name)
        result.deleted_files.append(name)
    for broken in report.broken_models:
        try:
            model_delete(model_id=broken.id)
        except ServiceError as exc:
            result.refused.append(f"{broken.id}: {exc.message}")
        else:
            result.deleted_models.append(broken.id)
    for path in report.stale_temp_files:
        path.unlink(missing_ok=True)
        result.deleted_temp_files.append(path)
    return result
