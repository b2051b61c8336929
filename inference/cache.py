"""This node's model cache, in the OVMS repository layout `<MODEL_CACHE_DIR>/<servable>/<version>/<files>`.

`materialize` unpacks a registry model's ZIP there (from local disk or S3), reporting progress and honouring
cancellation; the folder appears atomically (unpacked beside it, then renamed) so a reader never sees half a
model. Every server process and worker calls the same function, so any node can fill its own cache.
"""

import fcntl
import os
import re
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max

from inference.models import ServableIdentity
from registry.artifacts import ArchiveRejected, detect_format, is_safe_member, open_from_storage
from registry.detection import GENAI_MODEL_FILE
from registry.models import Model

COMPLETE_MARKER = ".modelhub-complete"
CHUNK = 1024 * 1024

Progress = Callable[[int, int], None]  # (bytes_done, bytes_total)
ShouldCancel = Callable[[], bool]


class MaterializeCanceled(Exception):
    pass


class MaterializeFailed(Exception):
    pass


def servable_name_for(model_name: str) -> str:
    """A name usable in /v1/models/{name} and as a folder: unsafe characters become '-'."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", model_name.strip()).strip("-.") or "model"
    if not name[0].isalnum():
        name = f"m{name}"
    return name[:128]


def identity_for(model: Model) -> ServableIdentity:
    """The model's (servable name, version), assigned on first use and then fixed."""
    existing = ServableIdentity.objects.filter(model=model).first()
    if existing:
        return existing
    name = servable_name_for(model.name)
    wanted = int(model.version) if model.version.isdigit() and int(model.version) > 0 else None
    for _ in range(5):
        taken = ServableIdentity.objects.filter(servable_name=name)
        if wanted is not None and not taken.filter(version=wanted).exists():
            version = wanted
        else:
            version = (taken.aggregate(top=Max("version"))["top"] or 0) + 1
        try:
            with transaction.atomic():
                return ServableIdentity.objects.create(model=model, servable_name=name, version=version)
        except IntegrityError:
            existing = ServableIdentity.objects.filter(model=model).first()
            if existing:
                return existing
    raise MaterializeFailed(f"Could not assign a serving version to model {model.pk}; try again.")


def version_dir(servable_name: str, version: int) -> Path:
    return Path(settings.MODEL_CACHE_DIR) / servable_name / str(version)


def cached_path(model: Model) -> Path | None:
    """The model's unpacked folder on this node if it is complete and matches the stored artifact."""
    identity = ServableIdentity.objects.filter(model=model).first()
    if identity is None:
        return None
    folder = version_dir(identity.servable_name, identity.version)
    marker = folder / COMPLETE_MARKER
    if marker.exists() and marker.read_text().strip() == model.sha256:
        return folder
    return None


def model_file_in(folder: Path) -> Path:
    """The file OpenVINO should read in a version folder: IR .xml (with its .bin), else ONNX, TFLite, Paddle.
    In an openvino-genai folder, `openvino_model.xml` (not a tokenizer's .xml: registry.detection orders them)."""
    names = [str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()]
    _, candidates = detect_format(names)
    if not candidates:
        raise MaterializeFailed(f"No model file (.xml+.bin, .onnx, .tflite, .pdmodel) in {folder}.")
    return folder / candidates[0]


def genai_folder(
    model: Model,
    *,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> Path:
    """The openvino-genai folder of a generative or embedding model (`task` set) on this node, unpacked if need
    be (as `materialize`): the folder holding `openvino_model.xml` and its tokenizers, which a ZIP may put in a
    subfolder. The pipelines take this folder, not a model file."""
    if not model.task:
        raise MaterializeFailed(
            f"Model {model.pk} is not a generative or embedding model (its task is empty): serve it over "
            "TFS/KServe, or register it with a task."
        )
    folder = materialize(model, progress=progress, should_cancel=should_cancel, on_phase=on_phase)
    model_file = model_file_in(folder)
    if model_file.name != GENAI_MODEL_FILE:
        raise MaterializeFailed(
            f"Model {model.pk} has task {model.task} but no {GENAI_MODEL_FILE} (an openvino-genai folder, as "
            "`optimum-cli export openvino` writes it)."
        )
    return model_file.parent


def materialize(
    model: Model,
    *,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> Path:
    """Unpack the model's ZIP into this node's cache (no-op when already there) and return the folder.

    `on_phase` hears "copy" (fetching the ZIP from remote storage such as S3) and "unpack"; `progress`
    gets (bytes_done, bytes_total) of the current phase.
    """
    done = cached_path(model)
    if done is not None:
        return done
    if not model.file:
        raise MaterializeFailed(
            f"Model {model.pk} has no stored file yet (registered from a URL: download it first)."
        )
    identity = identity_for(model)
    target = version_dir(identity.servable_name, identity.version)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Several processes of this node (server processes, workers) may want the same model at once: one
    # unpacks, the others wait and then find it complete (replacing a folder another process reads would
    # pull the files from under it).
    with open(target.parent / f".{identity.version}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = cached_path(model)
        if done is not None:
            return done
        return _unpack(model, target, identity.version, progress, should_cancel, on_phase)


def _unpack(
    model: Model,
    target: Path,
    version: int,
    progress: Progress | None,
    should_cancel: ShouldCancel | None,
    on_phase: Callable[[str], None] | None,
) -> Path:
    staging = target.parent / f".{version}.unpacking-{uuid.uuid4().hex[:8]}"
    local_zip: Path | None = None
    try:
        archive_path, is_copy = _local_archive(
            model, progress=progress, should_cancel=should_cancel, on_phase=on_phase
        )
        if is_copy:
            local_zip = archive_path
        if on_phase:
            on_phase("unpack")
        with zipfile.ZipFile(archive_path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            total = sum(info.file_size for info in members)
            done_bytes = 0
            if progress:
                progress(done_bytes, total)
            for info in members:
                if not is_safe_member(info.filename):
                    raise ArchiveRejected(f"unsafe path in ZIP: {info.filename!r}")
                destination = staging / info.filename
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, open(destination, "wb") as sink:
                    while chunk := source.read(CHUNK):
                        if should_cancel and should_cancel():
                            raise MaterializeCanceled()
                        sink.write(chunk)
                        done_bytes += len(chunk)
                        if progress:
                            progress(done_bytes, total)
        (staging / COMPLETE_MARKER).write_text(model.sha256)
        if target.exists():
            shutil.rmtree(target)
        os.rename(staging, target)
        return target
    except (zipfile.BadZipFile, ArchiveRejected) as exc:
        raise MaterializeFailed(f"The stored ZIP of model {model.pk} cannot be unpacked: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if local_zip is not None:
            local_zip.unlink(missing_ok=True)


def _local_archive(
    model: Model,
    *,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> tuple[Path, bool]:
    """A local path of the ZIP: the stored file itself on local storage, else a temporary copy (True)."""
    try:
        return Path(model.file.path), False
    except NotImplementedError:  # remote storage (S3): copy it down first
        pass
    if on_phase:
        on_phase("copy")
    handle = tempfile.NamedTemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR, suffix=".zip", delete=False)
    copied = 0
    try:
        with handle, open_from_storage(model.file.name) as source:
            if progress:
                progress(0, model.size)
            while chunk := source.read(CHUNK):
                if should_cancel and should_cancel():
                    raise MaterializeCanceled()
                handle.write(chunk)
                copied += len(chunk)
                if progress:
                    progress(copied, max(model.size, copied))
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return Path(handle.name), True


def evict(model: Model) -> bool:
    """Remove the model's unpacked folder from this node's cache. True when something was removed."""
    identity = ServableIdentity.objects.filter(model=model).first()
    if identity is None:
        return False
    folder = version_dir(identity.servable_name, identity.version)
    if not folder.exists():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True
