"""Writes to the registry. Database row and stored file change together or not at all."""

import logging
import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.dispatch import Signal
from django.utils import timezone

from access import audit
from config.errors import PlainTextError, ValidationFailed
from registry.artifacts import (
    ArchiveRejected,
    StagedArchive,
    delete_from_storage,
    inspect_archive,
    save_to_storage,
)
from registry.detection import NoModelFile, require_model_file
from registry.models import Model, artifact_path
from registry.outbound import OutboundRefused, check_url
from registry.signature import signature_from_archive, signature_of_stored

logger = logging.getLogger(__name__)

# Sent before a model is deleted; a receiver that must keep the model (it is being served or deployed)
# raises ModelInUse with the reason.
model_delete_requested = Signal()

NOT_FOUND_MESSAGE = "Model not found."


class ModelNotFound(PlainTextError):
    status_code = 404

    def __init__(self, message: str = NOT_FOUND_MESSAGE) -> None:
        super().__init__(message)


class ModelConflict(PlainTextError):
    status_code = 409


class ModelInUse(PlainTextError):
    status_code = 409


def model_create(*, fields: dict[str, Any], archive: StagedArchive | None) -> Model:
    """Register a model from validated fields and either a staged ZIP or a `source_url` fetched later.

    The archive is consumed: moved into storage on success, deleted on failure.
    """
    try:
        model = _model_create(fields=fields, archive=archive)
        audit.record("register", "model", model.pk, name=model.name, version=model.version)
        return model
    finally:
        if archive is not None:
            archive.discard()


def _model_create(*, fields: dict[str, Any], archive: StagedArchive | None) -> Model:
    fields = dict(fields)
    fields.pop("size", None)  # measured, never trusted
    if archive is None and not fields.get("source_url"):
        raise ValidationFailed.single(
            ["body", "file"], "Field required: upload a ZIP file or give a source_url.", "missing"
        )
    if archive is not None and fields.get("source_url"):
        raise ValidationFailed.single(["body", "source_url"], "Give either a file or a source_url, not both.")
    if fields.get("source_url"):
        _check_source_url(fields["source_url"])
    if archive is None and fields.get("sha256"):
        fields["sha256"] = fields["sha256"].lower()
    elif "sha256" in fields:
        raise ValidationFailed.single(
            ["body", "sha256"], "sha256 is computed from the uploaded file; send it only with source_url."
        )

    model = Model(id=fields.pop("id", None) or uuid.uuid4().hex, **fields)
    model.last_updated_date = timezone.now()
    if "created_date" not in fields:
        model.created_date = model.last_updated_date
    if archive is not None:
        try:
            info = inspect_archive(archive.path)
        except ArchiveRejected as exc:
            raise ValidationFailed.single(["body", "file"], str(exc), "value_error.archive") from None
        try:
            require_model_file(info.detected_format, artifact_only=model.artifact_only)
        except NoModelFile as exc:
            raise ValidationFailed.single(["body", "file"], str(exc), "value_error.no_model_file") from None
        model.detected_format = info.detected_format
        model.format = model.format or info.detected_format
        if "task" not in fields:
            model.task = info.task
        elif model.task and not info.task:
            # a pipeline could never load it: refused now rather than at every load
            raise ValidationFailed.single(
                ["body", "task"],
                f"Task {model.task} needs an openvino-genai model folder (openvino_model.xml with "
                "openvino_tokenizer.xml, as `optimum-cli export openvino` writes it); this ZIP has none.",
            )
        model.size = archive.size
        model.sha256 = archive.sha256
    _raise_if_conflicting(model)
    if archive is not None:
        model.signature = signature_from_archive(archive.path)

    stored_name = save_to_storage(artifact_path(model, ""), archive) if archive is not None else ""
    model.file.name = stored_name
    try:
        with transaction.atomic():
            model.save(force_insert=True)
    except IntegrityError:
        delete_from_storage(stored_name)
        _raise_if_conflicting(model)
        raise
    except BaseException:
        delete_from_storage(stored_name)
        raise
    logger.info(
        "Registered model %s (%s %s, %s bytes, %s)",
        model.id,
        model.name,
        model.version,
        model.size,
        model.detected_format or "url",
    )
    return model


def _check_source_url(url: str) -> None:
    """Refuse at registration a URL the download would refuse (SSRF guard; the download checks again)."""
    try:
        check_url(url, need_address=False)
    except OutboundRefused as exc:
        raise ValidationFailed.single(["body", "source_url"], str(exc), "value_error.url_refused") from None


def _raise_if_conflicting(model: Model, *, exclude_id: str | None = None) -> None:
    if exclude_id is None and Model.objects.filter(pk=model.id).exists():
        raise ModelConflict(f"Model ID {model.id} is already in use.")
    twin = (
        Model.objects.filter(
            name=model.name, version=model.version, precision=model.precision, project_id=model.project_id
        )
        .exclude(pk=exclude_id or model.id)
        .values_list("pk", flat=True)
        .first()
    )
    if twin is not None:
        raise ModelConflict(
            f"Model {model.name} version {model.version} ({', '.join(model.precision_list)}) is already registered "
            f"with ID {twin}."
        )


def model_update(*, model_id: str, fields: dict[str, Any]) -> Model:
    fields = {key: value for key, value in fields.items() if key != "size"}
    with transaction.atomic():
        model = Model.objects.select_for_update().filter(pk=model_id).first()
        if model is None:
            raise ModelNotFound()
        if model.file and {"sha256", "source_url"} & set(fields):
            raise ValidationFailed.single(
                ["body", "sha256" if "sha256" in fields else "source_url"],
                "sha256 and source_url describe the stored file and cannot change once it is stored.",
            )
        if fields.get("source_url"):
            _check_source_url(fields["source_url"])
        if "artifact_only" in fields and fields["artifact_only"] != model.artifact_only:
            raise ValidationFailed.single(
                ["body", "artifact_only"],
                "artifact_only is set at registration; delete and register again to change it.",
            )
        for key, value in fields.items():
            setattr(model, key, value)
        model.last_updated_date = timezone.now()
        _raise_if_conflicting(model, exclude_id=model.pk)
        try:
            with transaction.atomic():
                model.save()
        except IntegrityError:
            _raise_if_conflicting(model, exclude_id=model.pk)
            raise
    audit.record("update", "model", model_id, fields=sorted(fields))
    return model


def model_delete(*, model_id: str) -> None:
    model = Model.objects.filter(pk=model_id).first()
    if model is None:
        raise ModelNotFound()
    model_delete_requested.send(sender=Model, model=model)
    stored_name = model.file.name
    try:
        with transaction.atomic():
            Model.objects.filter(pk=model_id).delete()
            # The row goes first: if the process dies before the file is removed, `registry_fsck` finds an
            # orphan file, never a row pointing at nothing.
            transaction.on_commit(lambda: delete_from_storage(stored_name))
    except ProtectedError as exc:
        users = ", ".join(sorted({str(obj) for obj in exc.protected_objects}))
        raise ModelInUse(f"Model {model_id} is in use ({users}); unload or undeploy it first.") from None
    logger.info("Deleted model %s and its file %s", model_id, stored_name or "(none)")
    audit.record("delete", "model", model_id, name=model.name, version=model.version)


def model_attach_archive(*, model_id: str, archive: StagedArchive) -> Model:
    """Store the artifact of a model registered by URL once it has been fetched (consumes the archive)."""
    try:
        model = Model.objects.filter(pk=model_id).first()
        if model is None:
            raise ModelNotFound()
        info = inspect_archive(archive.path)
        try:
            require_model_file(info.detected_format, artifact_only=model.artifact_only)
        except NoModelFile as exc:
            raise ArchiveRejected(str(exc)) from None
        signature = signature_from_archive(archive.path)
        stored_name = save_to_storage(artifact_path(model, ""), archive)
        previous = model.file.name
        try:
            with transaction.atomic():
                updated = Model.objects.filter(pk=model_id).update(
                    file=stored_name,
                    size=archive.size,
                    sha256=archive.sha256,
                    detected_format=info.detected_format,
                    format=model.format or info.detected_format,
                    task=model.task or info.task,
                    signature=signature,
                    last_updated_date=timezone.now(),
                )
                if not updated:
                    raise ModelNotFound()
        except BaseException:
            delete_from_storage(stored_name)
            raise
        if previous and previous != stored_name:
            delete_from_storage(previous)
        model.refresh_from_db()
        return model
    finally:
        archive.discard()


def model_signatures_fill(*, all_models: bool = False) -> tuple[int, int]:
    """Read the signature of stored models that have none (or of every stored model): (read, unreadable)."""
    queryset = Model.objects.exclude(file="")
    if not all_models:
        queryset = queryset.filter(signature__isnull=True)
    read = unreadable = 0
    for model in queryset.iterator():
        signature = signature_of_stored(model)
        Model.objects.filter(pk=model.pk).update(signature=signature)
        if signature is None:
            unreadable += 1
        else:
            read += 1
    return read, unreadable
