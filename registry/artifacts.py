"""Model artifacts: ZIP checks, format detection, and moving archives into storage without holding them in memory."""

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler

from registry.detection import detect_format, detect_task

CHUNK_SIZE = 1024 * 1024


class ArchiveRejected(ValueError):
    """The file is not an acceptable model archive; the message says why."""


@dataclass(frozen=True)
class ArchiveInfo:
    entries: int
    uncompressed_bytes: int
    detected_format: str
    model_files: list[str]
    task: str = ""  # openvino-genai folders: text-generation, embeddings or rerank (registry/detection.py)


def inspect_archive(path: str | os.PathLike[str] | IO[bytes]) -> ArchiveInfo:
    """Check a ZIP (a path or a seekable file) from its central directory, without extracting it, and detect
    which model format it holds."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ArchiveRejected("The file is not a valid ZIP archive.") from None
    except OSError as exc:
        raise ArchiveRejected(f"The ZIP archive cannot be read: {exc}.") from None
    with archive:
        infos = archive.infolist()
        files = [info for info in infos if not info.is_dir()]
        config = _config_json(archive, files) if len(infos) <= settings.REGISTRY_ZIP_MAX_ENTRIES else None
    if not files:
        raise ArchiveRejected("The ZIP archive is empty.")
    if len(infos) > settings.REGISTRY_ZIP_MAX_ENTRIES:
        raise ArchiveRejected(
            f"The ZIP archive has {len(infos)} entries; the limit is {settings.REGISTRY_ZIP_MAX_ENTRIES}."
        )
    total = 0
    for info in infos:
        if not is_safe_member(info.filename):
            raise ArchiveRejected(f"The ZIP archive has an unsafe path: {info.filename!r}.")
        total += info.file_size
    if total > settings.REGISTRY_ZIP_MAX_UNCOMPRESSED_BYTES:
        raise ArchiveRejected(
            f"The ZIP archive unpacks to {total} bytes; the limit is "
            f"{settings.REGISTRY_ZIP_MAX_UNCOMPRESSED_BYTES} bytes."
        )
    names = [info.filename for info in files]
    detected, model_files = detect_format(names)
    return ArchiveInfo(
        entries=len(infos), uncompressed_bytes=total, detected_format=detected, model_files=model_files,
        task=detect_task(names, config),
    )  # fmt: skip


_CONFIG_JSON_MAX_BYTES = 1024 * 1024


def _config_json(archive: zipfile.ZipFile, files: list[zipfile.ZipInfo]) -> dict[str, Any] | None:
    """The config.json beside the model file (the shallowest one), if small and valid; else None."""
    configs = sorted((info for info in files if PurePosixPath(info.filename).name == "config.json"),
                     key=lambda info: info.filename.count("/"))  # fmt: skip
    if (
        not configs
        or configs[0].file_size > _CONFIG_JSON_MAX_BYTES
        or not is_safe_member(configs[0].filename)
    ):
        return None
    try:
        with archive.open(configs[0]) as member:
            document = json.loads(member.read(_CONFIG_JSON_MAX_BYTES + 1))
    except (OSError, ValueError, zipfile.BadZipFile, RuntimeError, NotImplementedError):
        return None
    return document if isinstance(document, dict) else None


def is_safe_member(name: str) -> bool:
    """False for absolute paths, drive letters, backslash tricks and any `..` component (zip-slip)."""
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        return False
    return ".." not in PurePosixPath(normalized).parts


class StagedArchive(File):
    """A ZIP on local disk next to the storage folder, with its sha256 already known.

    `temporary_file_path` makes FileSystemStorage move the file into place (a rename, not a copy);
    other storages (S3) stream it.
    """

    def __init__(self, path: str | os.PathLike[str], sha256: str) -> None:
        super().__init__(open(path, "rb"), name=os.path.basename(path))
        self.path = str(path)
        self.sha256 = sha256
        self.size = os.path.getsize(path)

    def temporary_file_path(self) -> str:
        return self.path

    def discard(self) -> None:
        self.close()
        Path(self.path).unlink(missing_ok=True)


def stage_archive(chunks: Iterable[bytes]) -> StagedArchive:
    """Write a stream of bytes to the upload temp folder, hashing on the way."""
    digest = hashlib.sha256()
    handle = tempfile.NamedTemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR, suffix=".zip.part", delete=False)
    try:
        with handle:
            for chunk in chunks:
                digest.update(chunk)
                handle.write(chunk)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return StagedArchive(handle.name, digest.hexdigest())


def stage_file(path: str | os.PathLike[str], progress: Callable[[int], None] | None = None) -> StagedArchive:
    """Copy a local file into the upload temp folder (so storage can move it) while hashing it."""

    def chunks() -> Iterable[bytes]:
        with open(path, "rb") as source:
            while chunk := source.read(CHUNK_SIZE):
                if progress:
                    progress(len(chunk))
                yield chunk

    return stage_archive(chunks())


def staged_from_upload(upload: UploadedFile) -> StagedArchive:
    """The staged form of an uploaded file: moved as is when our handler hashed it on disk, else copied."""
    sha256 = getattr(upload, "sha256", None)
    if sha256 is not None and hasattr(upload, "temporary_file_path"):
        return StagedArchive(upload.temporary_file_path(), sha256)
    upload.seek(0)
    return stage_archive(upload.chunks(CHUNK_SIZE))


class HashingUploadHandler(TemporaryFileUploadHandler):
    """Streams each uploaded file to the temp folder and computes its sha256 on the way (never in memory)."""

    chunk_size = CHUNK_SIZE

    def new_file(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().new_file(*args, **kwargs)
        self._digest = hashlib.sha256()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self._digest.update(raw_data)
        self.file.write(raw_data)

    def file_complete(self, file_size: int) -> TemporaryUploadedFile:
        upload = super().file_complete(file_size)
        upload.sha256 = self._digest.hexdigest()
        return upload


def save_to_storage(name: str, staged: StagedArchive) -> str:
    """Store the archive under `name` (or a free variant of it) and return the stored name."""
    staged.seek(0)
    return default_storage.save(name, staged)


def delete_from_storage(name: str) -> None:
    if name:
        default_storage.delete(name)


def open_from_storage(name: str):  # type: ignore[no-untyped-def]
    return default_storage.open(name, "rb")
