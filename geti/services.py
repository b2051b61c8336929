"""Importing OpenVINO optimized models from Geti into the registry, all or nothing, and the import jobs.

The registry id of an imported model is the Geti *optimized model* id (a 24-hex ObjectId): the same id the
request names, so "already registered" is a primary-key lookup and a re-import after a delete works.
"""

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.tasks import async_task

from access import audit
from config.errors import ServiceError, ValidationFailed
from geti.client import (
    GetiClient,
    GetiError,
    GetiNotFound,
    ModelDetail,
    ModelGroup,
    OptimizedModel,
    Project,
    client_from_settings,
    is_object_id,
)
from geti.models import GetiImport, GetiImportJob, ImportStatus
from registry import services as registry_services
from registry.artifacts import ArchiveRejected, StagedArchive, inspect_archive, stage_archive
from registry.models import SUPPORTED_PRECISIONS, ArtifactFormat, Model

logger = logging.getLogger(__name__)

NOT_FOUND_MESSAGE = "Project or model id not found. No model(s) registered."
NOTHING_REGISTERED = "No model(s) registered."
CONFLICT_TIP = (
    "Tip: Delete the previously mentioned model(s) or remove the id(s) from the request body then try again."
)
# A running job whose heartbeat is older than this lost its worker (it beats at least every 5 s): a redelivered
# task may take it over, and a client reading it sees it failed rather than running forever.
STALE_AFTER = timedelta(seconds=60)
HEARTBEAT_EVERY = 1.0


def registered_message(ids: Iterable[str]) -> str:
    return f"Model(s): {', '.join(ids)} registered."


def forbidden_message(ids: Iterable[str]) -> str:
    return f"Model(s): {', '.join(ids)} can not be registered."


def conflict_message(ids: Iterable[str]) -> str:
    return f"Model(s): {', '.join(ids)} is already registered. {NOTHING_REGISTERED}\n{CONFLICT_TIP}"


@dataclass(frozen=True)
class ModelRef:
    """One requested model: `id` is the OpenVINO optimized model id, `group_id` its model group."""

    id: str
    group_id: str


@dataclass(frozen=True)
class ImportOutcome:
    status_code: int
    message: str
    registered_ids: list[str] = field(default_factory=list)


class ImportProgress(Protocol):
    def started(self, optimized_model_id: str, total_bytes: int | None) -> None: ...
    def advanced(self, optimized_model_id: str, nbytes: int) -> None: ...
    def finished(self, optimized_model_id: str) -> None: ...


class _NoProgress:
    def started(self, optimized_model_id: str, total_bytes: int | None) -> None:
        pass

    def advanced(self, optimized_model_id: str, nbytes: int) -> None:
        pass

    def finished(self, optimized_model_id: str) -> None:
        pass


class _Refused(Exception):
    def __init__(self, outcome: ImportOutcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


@dataclass(frozen=True)
class _Resolved:
    ref: ModelRef
    group: ModelGroup
    model: ModelDetail
    optimized: OptimizedModel


# --- The import itself ----------------------------------------------------------------------------------


def import_models(
    *,
    client: GetiClient,
    project_id: str,
    refs: list[ModelRef],
    job: GetiImportJob | None = None,
    progress: ImportProgress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ImportOutcome:
    """Register every requested OpenVINO optimized model, or none: the spec's status and text either way.

    Checks run before any download (404 unknown project/group/model, 403 not an OpenVINO optimized model,
    409 already registered); a failure while downloading or registering removes what this call registered.
    """
    progress = progress or _NoProgress()
    refs = list(dict.fromkeys(refs))
    try:
        project, resolved = _resolve(client, project_id, refs)
        _refuse_registered([item.ref.id for item in resolved])
    except _Refused as refused:
        return refused.outcome

    created: list[str] = []
    try:
        for item in resolved:
            created.append(_register_one(client, project, item, job=job, progress=progress, sleep=sleep).pk)
    except BaseException as exc:
        _remove(created)
        if isinstance(exc, _Refused):
            return exc.outcome
        if isinstance(exc, GetiError):
            return ImportOutcome(exc.status_code, f"{exc.message} {NOTHING_REGISTERED}")
        raise
    logger.info("Geti import from project %s registered %s", project_id, ", ".join(created))
    return ImportOutcome(201, registered_message(created), created)


def _resolve(client: GetiClient, project_id: str, refs: list[ModelRef]) -> tuple[Project, list[_Resolved]]:
    if not is_object_id(project_id) or not all(
        is_object_id(ref.id) and is_object_id(ref.group_id) for ref in refs
    ):
        raise _Refused(ImportOutcome(404, NOT_FOUND_MESSAGE))
    try:
        project = client.get_project(project_id)
        groups = {group.id: group for group in client.list_model_groups(project_id)}
    except GetiNotFound:
        raise _Refused(ImportOutcome(404, NOT_FOUND_MESSAGE)) from None

    details: dict[tuple[str, str], ModelDetail | None] = {}

    def detail(group: ModelGroup, model_id: str) -> ModelDetail | None:
        key = (group.id, model_id)
        if key not in details:
            try:
                details[key] = client.get_model(project_id, group.id, model_id)
            except GetiNotFound:
                details[key] = None
        return details[key]

    resolved: list[_Resolved] = []
    missing: list[str] = []
    forbidden: list[str] = []
    for ref in refs:
        group = groups.get(ref.group_id)
        found: _Resolved | None = None
        is_trained_model = False
        if group is not None:
            for summary in group.models:
                if summary.id == ref.id:
                    is_trained_model = True
                    break
                model = detail(group, summary.id)
                optimized = (
                    next((om for om in model.optimized_models if om.id == ref.id), None) if model else None
                )
                if model is not None and optimized is not None:
                    found = _Resolved(ref, group, model, optimized)
                    break
        if found is not None and found.optimized.importable:
            resolved.append(found)
        elif found is not None or is_trained_model:
            forbidden.append(ref.id)
        else:
            missing.append(ref.id)
    if missing:
        raise _Refused(ImportOutcome(404, NOT_FOUND_MESSAGE))
    if forbidden:
        raise _Refused(ImportOutcome(403, forbidden_message(forbidden)))
    return project, resolved


def _refuse_registered(ids: list[str]) -> None:
    taken = set(Model.objects.filter(pk__in=ids).values_list("pk", flat=True))
    taken |= set(
        GetiImport.objects.filter(optimized_model_id__in=ids).values_list("optimized_model_id", flat=True)
    )
    if taken:
        raise _Refused(ImportOutcome(409, conflict_message([i for i in ids if i in taken])))


def _register_one(
    client: GetiClient,
    project: Project,
    item: _Resolved,
    *,
    job: GetiImportJob | None,
    progress: ImportProgress,
    sleep: Callable[[float], None],
) -> Model:
    oid = item.optimized.id
    with client.open_optimized_model_export(
        project.id, item.group.id, item.model.id, oid, sleep=sleep
    ) as download:
        progress.started(oid, download.total_bytes)
        staged = stage_archive(_counted(download.chunks, progress, oid))
    progress.finished(oid)
    _check_archive(staged, oid)
    try:
        model = registry_services.model_create(fields=_registry_fields(project, item), archive=staged)
    except registry_services.ModelConflict:
        raise _Refused(ImportOutcome(409, conflict_message([oid]))) from None
    config = client.config
    try:
        GetiImport.objects.create(
            model=model,
            job=job,
            geti_host=config.host,
            organization_id=config.organization_id,
            workspace_id=config.workspace_id,
            project_id=project.id,
            project_name=project.name,
            model_group_id=item.group.id,
            model_group_name=item.group.name,
            geti_model_id=item.model.id,
            optimized_model_id=oid,
            optimization_type=item.optimized.optimization_type,
            geti_creation_date=item.optimized.creation_date,
        )
    except IntegrityError:
        _remove([model.pk])
        raise _Refused(ImportOutcome(409, conflict_message([oid]))) from None
    return model


def _counted(chunks: Iterator[bytes], progress: ImportProgress, oid: str) -> Iterator[bytes]:
    for chunk in chunks:
        progress.advanced(oid, len(chunk))
        yield chunk


def _check_archive(staged: StagedArchive, oid: str) -> None:
    try:
        info = inspect_archive(staged.path)
    except ArchiveRejected as exc:
        staged.discard()
        raise GetiError(f"The export of optimized model {oid} from Geti is not a usable ZIP: {exc}") from None
    if info.detected_format != ArtifactFormat.OPENVINO:
        staged.discard()
        raise GetiError(
            f"The export of optimized model {oid} from Geti holds no OpenVINO IR (model .xml + .bin)."
        )


def _registry_fields(project: Project, item: _Resolved) -> dict[str, object]:
    optimized, model = item.optimized, item.model
    precisions = [
        p.upper() for p in (optimized.precision or model.precision) if p.upper() in SUPPORTED_PRECISIONS
    ]
    category = "_".join(project.task_types).title()
    capabilities: dict[str, object] = {}
    if optimized.optimization_type:
        capabilities["optimization_type"] = optimized.optimization_type
    if optimized.optimization_methods:
        capabilities["optimization_methods"] = list(optimized.optimization_methods)
    return {
        "id": optimized.id,
        "name": optimized.name or f"{model.name} {'/'.join(precisions)}",
        "version": str(optimized.version or model.version),
        "precision": ",".join(sorted(set(precisions), key=SUPPORTED_PRECISIONS.index)) or "FP32",
        "format": ArtifactFormat.OPENVINO.value,
        "origin": "geti",
        "project_id": project.id,
        "project_name": project.name,
        "category": category,
        "architecture": model.architecture or item.group.name,
        "score": optimized.score if optimized.score is not None else model.score,
        "labels": [label.name for label in model.labels],
        "target_device": optimized.target_device,
        "target_device_type": optimized.target_device_type,
        "optimization_capabilities": capabilities or None,
        "overview": {
            "geti_model_group": item.group.name,
            "geti_model": model.name,
            "geti_model_id": model.id,
        },
    }


def _remove(model_ids: list[str]) -> None:
    for model_id in model_ids:
        try:
            registry_services.model_delete(model_id=model_id)
        except Exception:
            logger.exception("Could not remove model %s after a failed Geti import", model_id)


# --- Import jobs ----------------------------------------------------------------------------------------


def import_job_create(*, project_id: str, refs: list[ModelRef], enqueue: bool = True) -> GetiImportJob:
    """Record the request and (unless the caller runs it itself) hand it to a worker once the row is committed."""
    if not refs:
        raise ValidationFailed.single(
            ["body", "models"], "List should have at least 1 item after validation, not 0", "too_short"
        )
    job = GetiImportJob.objects.create(
        project_id=project_id, requested=[{"id": ref.id, "group_id": ref.group_id} for ref in refs]
    )
    audit.record("geti_import", "geti_project", project_id, job=str(job.pk), models=[ref.id for ref in refs])
    if enqueue:
        transaction.on_commit(
            lambda: async_task(
                "geti.tasks.run_import_job", job.pk, task_name=f"geti-import-{job.pk}", group="geti-import"
            )
        )
    return job


class JobProgress:
    """Counts downloaded bytes into the job row and keeps its heartbeat fresh (at most once a second)."""

    def __init__(self, job_id: str, extra: ImportProgress | None = None) -> None:
        self.job_id = job_id
        self.extra = extra or _NoProgress()
        self.pending = 0
        self.last = 0.0

    def beat(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last >= HEARTBEAT_EVERY:
            GetiImportJob.objects.filter(pk=self.job_id).update(
                bytes_done=F("bytes_done") + self.pending, heartbeat_at=timezone.now()
            )
            self.pending = 0
            self.last = now

    def started(self, optimized_model_id: str, total_bytes: int | None) -> None:
        self.extra.started(optimized_model_id, total_bytes)
        self.beat(force=True)

    def advanced(self, optimized_model_id: str, nbytes: int) -> None:
        self.extra.advanced(optimized_model_id, nbytes)
        self.pending += nbytes
        self.beat()

    def finished(self, optimized_model_id: str) -> None:
        self.extra.finished(optimized_model_id)
        self.beat(force=True)

    def sleep(self, seconds: float) -> None:
        """Waiting for an export that is not ready, without letting the heartbeat go stale."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 5.0))
            self.beat(force=True)


def _claim(job_id: str) -> bool:
    """pending -> running, or take over a running job whose worker died. True when this caller owns it."""
    now = timezone.now()
    claimed = GetiImportJob.objects.filter(
        Q(status=ImportStatus.PENDING) | Q(status=ImportStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER),
        pk=job_id,
    ).update(
        status=ImportStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        bytes_done=0,
        attempts=F("attempts") + 1,
    )
    return claimed == 1


def import_job_run(*, job_id: str, progress: ImportProgress | None = None) -> GetiImportJob | None:
    """Run one import job (in a worker or in `manage.py geti_import`). Idempotent: a second delivery does nothing."""
    if not _claim(job_id):
        logger.info("Geti import %s is finished or running elsewhere; nothing to do", job_id)
        return None
    job = GetiImportJob.objects.get(pk=job_id)
    # A takeover: what an earlier, crashed attempt registered is removed before starting again.
    _remove(list(GetiImport.objects.filter(job=job).values_list("model", flat=True)))
    tracker = JobProgress(job_id, progress)
    refs = [ModelRef(id=str(item["id"]), group_id=str(item["group_id"])) for item in job.requested]
    try:
        with client_from_settings() as client:
            outcome = import_models(
                client=client,
                project_id=job.project_id,
                refs=refs,
                job=job,
                progress=tracker,
                sleep=tracker.sleep,
            )
    except ServiceError as exc:
        outcome = ImportOutcome(exc.status_code, f"{exc.message} {NOTHING_REGISTERED}")
    except Exception as exc:
        logger.exception("Geti import %s failed", job_id)
        outcome = ImportOutcome(
            500, f"The import failed unexpectedly ({type(exc).__name__}). {NOTHING_REGISTERED}"
        )
    tracker.beat(force=True)
    finished = GetiImportJob.objects.filter(pk=job_id, status=ImportStatus.RUNNING).update(
        status=ImportStatus.FINISHED,
        status_code=outcome.status_code,
        message=outcome.message,
        registered_ids=outcome.registered_ids,
        finished_at=timezone.now(),
    )
    if not finished:  # someone took the job over meanwhile: our registrations are theirs to redo
        _remove(outcome.registered_ids)
    logger.info(
        "Geti import %s finished: %s %s", job_id, outcome.status_code, outcome.message.splitlines()[0]
    )
    return GetiImportJob.objects.get(pk=job_id)


def import_job_fail_if_stale(job: GetiImportJob) -> GetiImportJob:
    """A job whose worker died ends with a 500 and nothing registered, instead of answering 202 forever."""
    if (
        job.status != ImportStatus.RUNNING
        or job.heartbeat_at is None
        or job.heartbeat_at >= timezone.now() - STALE_AFTER
    ):
        return job
    failed = GetiImportJob.objects.filter(
        pk=job.pk, status=ImportStatus.RUNNING, heartbeat_at=job.heartbeat_at
    ).update(
        status=ImportStatus.FINISHED,
        status_code=500,
        message=f"The worker running this import stopped (last heartbeat {job.heartbeat_at.isoformat()}). {NOTHING_REGISTERED}",
        finished_at=timezone.now(),
    )
    if failed:
        _remove(list(GetiImport.objects.filter(job=job).values_list("model", flat=True)))
        logger.warning("Geti import %s lost its worker; marked failed", job.pk)
    return GetiImportJob.objects.get(pk=job.pk)


def import_job_wait(*, job_id: str, timeout: float) -> GetiImportJob:
    """Poll the job row until it is finished or `timeout` seconds have passed; return its latest state."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        job = import_job_fail_if_stale(GetiImportJob.objects.get(pk=job_id))
        left = deadline - time.monotonic()
        if job.status == ImportStatus.FINISHED or left <= 0:
            return job
        time.sleep(min(delay, left))
        delay = min(delay * 1.5, 0.5)
