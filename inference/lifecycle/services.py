"""Writes of the model lifecycle: start, join, cancel, run and recover downloads; update custom models.

A download copies a registry model's artifact into this node's model cache (inference.cache.materialize);
a model registered from a URL is first fetched over HTTP(S) with resume and checksum, then stored in the
registry. The DownloadJob row is the truth; every change to it is a conditional UPDATE.
"""

import hashlib
import logging
import os
import shutil
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.tasks import async_task

from access import audit
from access.redaction import shown_error
from config.errors import ServiceError, describe_error
from inference.cache import MaterializeCanceled, MaterializeFailed, cached_path, materialize
from inference.lifecycle import nodes
from inference.lifecycle.errors import LifecycleNotFound, NotCustom, NothingToCancel
from inference.lifecycle.events import now_version, publish
from inference.lifecycle.fetch import FetchCanceled, FetchFailed, Transfer, fetch, part_file
from inference.lifecycle.models import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    CacheRemoval,
    DownloadJob,
    DownloadPhase,
    DownloadStatus,
    ModelTraits,
    NodeCopy,
    type_from_precision,
)
from registry import services as registry_services
from registry.artifacts import ArchiveRejected, StagedArchive
from registry.models import Model

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.15  # seconds between progress writes while bytes flow (frames every <= 250 ms)
MONITOR_INTERVAL = 0.2  # how often a running download looks for a cancel request (stops within 1 s)
HEARTBEAT_INTERVAL = 1.0


def node_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _model(model_id: str) -> Model:
    model = Model.objects.filter(pk=model_id).first()
    if model is None:
        raise LifecycleNotFound(model_id)
    return model


def partial_folder(model_id: str) -> Path:
    """This model's partial and fetched files (in the upload temp folder: same disk as local storage)."""
    return Path(settings.FILE_UPLOAD_TEMP_DIR) / "downloads" / model_id


def fetch_destination(model: Model) -> Path:
    """Where a URL model's ZIP is fetched to; the URL is part of the name so a new URL never resumes an old file."""
    url_key = hashlib.sha1(model.source_url.encode()).hexdigest()[:16]
    return partial_folder(model.pk) / f"{url_key}.zip"


def remove_partial_files(model_id: str) -> None:
    shutil.rmtree(partial_folder(model_id), ignore_errors=True)


def _enqueue(model_id: str, run_id: str) -> None:
    async_task(
        "inference.lifecycle.tasks.download_model",
        model_id,
        run_id,
        group="lifecycle",
        cluster=settings.DOWNLOAD_QUEUE,  # its own workers: deployments never wait behind a slow source
    )


# --- start / join ------------------------------------------------------------------------------------------


def download_start(*, model_id: str, enqueue: bool = True) -> DownloadJob:
    """Start a download of the model to this node, or join the one already running (no second task).

    Already in the cache: the job is COMPLETED at once. `enqueue=False` leaves running it to the caller
    (`download_run`), as `manage.py download_model --inline` does.
    """
    model = _model(model_id)
    for _ in range(3):
        try:
            job, started = _start(model, enqueue=enqueue)
            break
        except IntegrityError:  # two first downloads raced to create the row: the loser joins
            continue
    else:
        raise ServiceError(f"Could not start the download of model {model_id!r}; try again.", status_code=503)
    if started:
        queued = job.status != DownloadStatus.COMPLETED
        logger.info(
            "Download of model %s %s (run %s)",
            model_id,
            "queued" if queued else "left to the nodes",
            job.run_id,
        )
    audit.record("download", "model", model_id, started=started, node=node_id())
    publish(model_id)
    return job


def _start(model: Model, *, enqueue: bool) -> tuple[DownloadJob, bool]:
    """Several nodes (see inference.lifecycle.nodes): a COMPLETED job means "wanted on every node"; the
    nodes' server processes copy a stored model themselves, so only a URL model needs a worker (to fetch it
    into artifact storage). With no live node, the worker also unpacks into its own cache, as before."""
    now = timezone.now()
    on_nodes = not nodes.materialize_in_worker()
    CacheRemoval.objects.filter(model=model).delete()
    with transaction.atomic():
        job = DownloadJob.objects.select_for_update().filter(pk=model.pk).first()
        if job is not None and job.status in ACTIVE_STATUSES:
            return job, False
        if on_nodes and job is not None and job.status == DownloadStatus.COMPLETED and model.file:
            if nodes.download_state_of(model.pk, job)[0]["status"] != DownloadStatus.FAILED:
                return job, False  # the nodes are at it, or done; one that failed makes a new run
        if on_nodes and model.file:
            job = _new_run(model, job, now, status=DownloadStatus.COMPLETED, started_at=now, finished_at=now)
            return job, True
        if not on_nodes and cached_path(model) is not None:
            size = model.size
            fields = {
                "status": DownloadStatus.COMPLETED, "phase": DownloadPhase.NONE, "bytes_done": size, "bytes_total": size,
                "error": "", "cancel_requested": False, "finished_at": now, "version": now_version(),
            }  # fmt: skip
            if job is None:
                job = DownloadJob.objects.create(
                    model=model, run_id=uuid.uuid4().hex, created_at=now, **fields
                )
            elif job.status != DownloadStatus.COMPLETED:
                DownloadJob.objects.filter(pk=model.pk).update(**fields)
                job.refresh_from_db()
            return job, False
        if not model.file and not model.source_url:
            raise ServiceError(
                f"Model {model.pk!r} has neither a stored file nor a source_url to download from.",
                status_code=409,
            )
        job = _new_run(model, job, now)
        run_id = job.run_id
        if enqueue:
            transaction.on_commit(lambda: _enqueue(model.pk, run_id))
        return job, True


def _new_run(model: Model, job: DownloadJob | None, now: datetime, **changes: Any) -> DownloadJob:
    """The model's job row started afresh under a new run_id (INITIALIZED unless `changes` say otherwise)."""
    fields = {
        "run_id": uuid.uuid4().hex, "status": DownloadStatus.INITIALIZED, "phase": DownloadPhase.NONE, "bytes_done": 0,
        "bytes_total": model.size, "progress": 0.0, "error": "", "cancel_requested": False, "worker": "", "heartbeat": None,
        "resumes": 0, "created_at": now, "started_at": None, "finished_at": None, "version": now_version(),
        **changes,
    }  # fmt: skip
    if job is None:
        return DownloadJob.objects.create(model=model, **fields)
    DownloadJob.objects.filter(pk=model.pk).update(**fields)
    job.refresh_from_db()
    return job


# --- cancel ------------------------------------------------------------------------------------------------


def download_cancel(*, model_id: str, wait_seconds: float = 1.5) -> DownloadJob:
    """Stop the model's running download: partial files are removed and the job ends CANCELED.

    A job not yet picked up by a worker (or whose worker died) is canceled right here; a running one is
    flagged, and its worker stops within a second. Waits up to `wait_seconds` for that to show.
    """
    _model(model_id)
    job = DownloadJob.objects.filter(pk=model_id).first()
    if job is not None and job.status == DownloadStatus.COMPLETED:
        if nodes.download_state_of(model_id, job)[0]["status"] == DownloadStatus.IN_PROGRESS:
            return _cancel_node_copies(job, wait_seconds)
    if job is None or job.status not in ACTIVE_STATUSES:
        state = job.status if job else "no download was ever started"
        raise NothingToCancel(f"No download of model {model_id!r} is running to cancel ({state}).")
    audit.record("cancel_download", "model", model_id, run=str(job.run_id))
    now = timezone.now()
    waiting = Q(status__in=[DownloadStatus.INITIALIZED, DownloadStatus.RESET])
    if job.status == DownloadStatus.IN_PROGRESS and (
        job.heartbeat is None or job.heartbeat < _stale_cutoff(now) or _worker_is_dead(job.worker)
    ):
        waiting |= Q(
            status=DownloadStatus.IN_PROGRESS, heartbeat=job.heartbeat
        )  # its worker is gone: nobody else will
    canceled_here = DownloadJob.objects.filter(waiting, pk=model_id, run_id=job.run_id).update(
        status=DownloadStatus.CANCELED,
        cancel_requested=True,
        phase=DownloadPhase.NONE,
        finished_at=now,
        version=now_version(),
    )
    if canceled_here:
        remove_partial_files(model_id)
        job.refresh_from_db()
        publish(model_id)
        logger.info("Download of model %s canceled before a worker ran it", model_id)
        return job
    DownloadJob.objects.filter(pk=model_id, run_id=job.run_id, status=DownloadStatus.IN_PROGRESS).update(
        cancel_requested=True
    )
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status in TERMINAL_STATUSES:
            break
        time.sleep(0.05)
    return job


def _cancel_node_copies(job: DownloadJob, wait_seconds: float) -> DownloadJob:
    """The nodes are still copying: the job stops being wanted, and each node's copy stops within a second."""
    DownloadJob.objects.filter(pk=job.pk, run_id=job.run_id, status=DownloadStatus.COMPLETED).update(
        status=DownloadStatus.CANCELED,
        cancel_requested=True,
        finished_at=timezone.now(),
        version=now_version(),
    )
    deadline = time.monotonic() + wait_seconds
    running = NodeCopy.objects.filter(model_id=job.pk, run_id=job.run_id, status=DownloadStatus.IN_PROGRESS)
    while running.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    job.refresh_from_db()
    publish(job.pk)
    logger.info("Download of model %s canceled while the nodes copied it", job.pk)
    return job


# --- recovery of downloads whose worker died -----------------------------------------------------------------


def _stale_cutoff(now: Any) -> Any:
    return now - timedelta(seconds=settings.LIFECYCLE_STALE_SECONDS)


def _worker_is_dead(worker: str) -> bool:
    """True only when the worker ran on this host and its process is gone (a crash seen without waiting)."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a killed process nobody has reaped yet still answers kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def download_recover(*, model_id: str | None = None) -> int:
    """Resume (status RESET, queued again) or fail each IN-PROGRESS download whose worker is gone.

    Gone = no heartbeat for LIFECYCLE_STALE_SECONDS, or a process of this host that no longer exists.
    Runs when a worker starts, every minute from the scheduler, and when a reader meets a stale job.
    """
    now = timezone.now()
    jobs = DownloadJob.objects.filter(status=DownloadStatus.IN_PROGRESS)
    if model_id is not None:
        jobs = jobs.filter(pk=model_id)
    recovered = 0
    for job in jobs:
        stale = job.heartbeat is None or job.heartbeat < _stale_cutoff(now)
        if not stale and not _worker_is_dead(job.worker):
            continue
        guard = DownloadJob.objects.filter(
            pk=job.pk, run_id=job.run_id, status=DownloadStatus.IN_PROGRESS, heartbeat=job.heartbeat
        )
        seen = job.heartbeat.isoformat() if job.heartbeat else "never"
        if job.cancel_requested:
            changed = guard.update(
                status=DownloadStatus.CANCELED,
                phase=DownloadPhase.NONE,
                finished_at=now,
                version=now_version(),
            )
            if changed:
                remove_partial_files(job.pk)
        elif job.resumes >= settings.LIFECYCLE_MAX_RESUMES:
            changed = guard.update(
                status=DownloadStatus.FAILED,
                phase=DownloadPhase.NONE,
                error=f"The worker running this download stopped (last heartbeat {seen}) "
                f"and it was already resumed {job.resumes} time(s); giving up. Start the download again to retry.",
                finished_at=now,
                version=now_version(),
            )
        else:
            with transaction.atomic():
                changed = guard.update(
                    status=DownloadStatus.RESET, resumes=F("resumes") + 1, version=now_version()
                )
                if changed:
                    transaction.on_commit(partial(_enqueue, job.pk, job.run_id))
        if changed:
            recovered += 1
            job.refresh_from_db()
            logger.warning(
                "Download of model %s lost its worker %s (last heartbeat %s): now %s",
                job.pk,
                job.worker,
                seen,
                job.status,
            )
            publish(job.pk)
    return recovered


def download_recover_if_stale(*, model_id: str) -> None:
    """Cheap check for readers (snapshot, WebSocket): recover only when the job looks abandoned."""
    job = (
        DownloadJob.objects.filter(pk=model_id, status=DownloadStatus.IN_PROGRESS)
        .values("heartbeat", "worker")
        .first()
    )
    if job and (
        job["heartbeat"] is None
        or job["heartbeat"] < _stale_cutoff(timezone.now())
        or _worker_is_dead(job["worker"])
    ):
        download_recover(model_id=model_id)


# --- the work, run by a django-q2 worker -----------------------------------------------------------------------


def download_run(*, model_id: str, run_id: str) -> str:
    """Run one delivered download task. Returns the final status; does nothing for an outdated or taken run."""
    now = timezone.now()
    previous_worker = DownloadJob.objects.filter(pk=model_id).values_list("worker", flat=True).first() or ""
    claimed = DownloadJob.objects.filter(
        Q(status__in=[DownloadStatus.INITIALIZED, DownloadStatus.RESET])
        | Q(status=DownloadStatus.IN_PROGRESS, heartbeat__lt=_stale_cutoff(now)),
        pk=model_id,
        run_id=run_id,
        cancel_requested=False,
    ).update(
        status=DownloadStatus.IN_PROGRESS,
        worker=node_id(),
        heartbeat=now,
        started_at=now,
        version=now_version(),
    )
    if not claimed:
        status = DownloadJob.objects.filter(pk=model_id).values_list("status", flat=True).first()
        logger.info(
            "Download task of model %s (run %s) has nothing to do (job: %s)",
            model_id,
            run_id,
            status or "gone",
        )
        return str(status or DownloadStatus.UNKNOWN)
    return _DownloadRun(model_id, run_id, previous_worker=previous_worker).run()


class _DownloadRun:
    """One claimed run: does the work in the calling thread, watches for cancel and beats in another."""

    def __init__(self, model_id: str, run_id: str, *, previous_worker: str = "") -> None:
        self.model_id = model_id
        self.run_id = run_id
        self.previous_worker = previous_worker  # host:pid that ran this job before (a resume after a crash)
        self.transfer = Transfer()
        self.phase = DownloadPhase.NONE
        self.done = 0
        self.total = 0
        self._last_write = 0.0
        self._last_percent = -1.0
        self._stop = threading.Event()
        # `percentage` never goes back within a download (DESIGN.md 8): each phase of this run owns a slice
        # of the run's share (all 100 when this worker also unpacks; the fetch's 50 when the nodes unpack).
        row = DownloadJob.objects.filter(pk=model_id).values("progress").first()
        self.progress_value = row["progress"] if row else 0.0  # a resumed run continues from there
        self.unpack_here = nodes.materialize_in_worker()
        self.slices: dict[str, tuple[float, float]] = {}
        self.run_share = 0.0

    def _row(self) -> Any:
        return DownloadJob.objects.filter(
            pk=self.model_id, run_id=self.run_id, status=DownloadStatus.IN_PROGRESS
        )

    def run(self) -> str:
        watcher = threading.Thread(target=self._watch, name=f"download-watch-{self.model_id}", daemon=True)
        watcher.start()
        try:
            status, error = self._work()
            error = shown_error(error)  # shown to readers in the snapshot and progress frames
        finally:
            self._stop.set()
            watcher.join(timeout=5)
        if status in (DownloadStatus.CANCELED, DownloadStatus.COMPLETED):  # FAILED keeps them to resume later
            remove_partial_files(self.model_id)
        fields: dict[str, Any] = {
            "status": status,
            "error": error,
            "finished_at": timezone.now(),
            "heartbeat": timezone.now(),
            "version": now_version(),
            "bytes_done": self.done,
            "bytes_total": self.total,
        }
        if status == DownloadStatus.COMPLETED:  # the model's size, as the snapshot's `bytes`
            size = Model.objects.filter(pk=self.model_id).values_list("size", flat=True).first() or self.total
            share = max(self.progress_value, self.run_share)
            fields.update(phase=DownloadPhase.NONE, bytes_done=size, bytes_total=size, progress=share)
        self._row().update(**fields)
        publish(self.model_id)
        log = logger.info if status != DownloadStatus.FAILED else logger.warning
        log("Download of model %s ended %s%s", self.model_id, status, f": {error}" if error else "")
        return str(status)

    def _work(self) -> tuple[str, str]:
        try:
            model = Model.objects.get(pk=self.model_id)
            fetching = not model.file
            share = self.run_share = self._share(fetching=fetching)
            unpack_from = share / 2 if fetching and self.unpack_here else 0.0
            if fetching:
                self.slices[DownloadPhase.FETCH] = (0.0, unpack_from if self.unpack_here else share)
                model = self._fetch(model)
            if self.unpack_here:  # no node is live to do it (one machine without a server, commands, tests)
                self.slices.update(nodes.phase_slices(model, unpack_from, 100.0))
                materialize(
                    model,
                    progress=self.progress,
                    should_cancel=self.transfer.is_canceled,
                    on_phase=self.set_phase,
                )
            return DownloadStatus.COMPLETED, ""
        except (FetchCanceled, MaterializeCanceled):
            return DownloadStatus.CANCELED, ""
        except (FetchFailed, MaterializeFailed) as exc:
            return DownloadStatus.FAILED, str(exc)
        except ArchiveRejected as exc:
            return DownloadStatus.FAILED, f"The downloaded file is not a usable model archive: {exc}"
        except ServiceError as exc:
            return DownloadStatus.FAILED, exc.message
        except Model.DoesNotExist:
            return DownloadStatus.FAILED, "The model was deleted during its download."
        except OSError as exc:
            logger.exception("Download of model %s failed", self.model_id)
            return DownloadStatus.FAILED, f"File error: {exc}"
        except Exception as exc:
            logger.exception("Download of model %s failed", self.model_id)
            return DownloadStatus.FAILED, f"Unexpected error: {describe_error(exc)}"

    def _fetch(self, model: Model) -> Model:
        self.set_phase(DownloadPhase.FETCH)
        previous_host = self.previous_worker.rpartition(":")[0]
        part = part_file(fetch_destination(model))
        if previous_host and previous_host != socket.gethostname() and not part.exists():
            # The partial file is on the host whose worker died (temporary files are per host): fetch from
            # byte 0 here and say so, rather than "resume" from nothing. The bar's percentage stays put
            # until the new fetch passes it (it never goes back).
            logger.warning(
                "Download of model %s was interrupted on host %s; its partial file stays there, so host %s "
                "fetches it from the start", self.model_id, previous_host, socket.gethostname(),
            )  # fmt: skip
        validator = (
            DownloadJob.objects.filter(pk=self.model_id).values_list("validator", flat=True).first() or ""
        )
        fetched = fetch(
            model.source_url,
            fetch_destination(model),
            expected_sha256=model.sha256,
            validator=validator,
            on_validator=self._save_validator,
            progress=self.progress,
            transfer=self.transfer,
            connect_timeout=settings.LIFECYCLE_CONNECT_TIMEOUT,
            read_timeout=settings.LIFECYCLE_READ_TIMEOUT,
            retries=settings.LIFECYCLE_RETRIES,
        )
        if fetched.resumed_from:
            logger.info(
                "Download of model %s resumed at byte %d of %d",
                self.model_id,
                fetched.resumed_from,
                fetched.size,
            )
        if self.transfer.is_canceled():
            raise FetchCanceled()
        return registry_services.model_attach_archive(
            model_id=model.pk, archive=StagedArchive(fetched.path, fetched.sha256)
        )

    def _save_validator(self, value: str) -> None:
        DownloadJob.objects.filter(pk=self.model_id, run_id=self.run_id).update(validator=value[:512])

    def _share(self, *, fetching: bool) -> float:
        """The slice of the whole download this run covers: the nodes copy in the rest."""
        if self.unpack_here:
            return 100.0
        return 50.0 if fetching else 0.0

    def set_phase(self, phase: str) -> None:
        self.phase = DownloadPhase(phase)
        self.done = self.total = 0
        self.progress_value = max(self.progress_value, self.slices.get(self.phase, (0.0, 0.0))[0])
        self._write(force=True)

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        start, end = self.slices.get(self.phase, (0.0, 0.0))
        if total and end > start:
            self.progress_value = max(self.progress_value, start + (end - start) * min(done / total, 1.0))
        percent = done * 100 / total if total else 0.0
        if (
            time.monotonic() - self._last_write >= PROGRESS_INTERVAL
            or percent - self._last_percent >= 1.0
            or (total and done >= total)
        ):
            self._write()

    def _write(self, *, force: bool = False) -> None:
        self._last_write = time.monotonic()
        self._last_percent = self.done * 100 / self.total if self.total else 0.0
        version = now_version()
        fields = {
            "phase": self.phase,
            "bytes_done": self.done,
            "bytes_total": self.total,
            "progress": self.progress_value,
            "heartbeat": timezone.now(),
            "version": version,
        }
        if self._row().update(**fields):
            publish(self.model_id)
        elif not force:
            self.transfer.cancel()  # the row left IN-PROGRESS under us (canceled as stale, or a newer run)

    def _watch(self) -> None:
        """Heartbeat and cancel watch, so a cancel is seen within a second even while the server is silent."""
        last_beat = time.monotonic()
        try:
            while not self._stop.wait(MONITOR_INTERVAL):
                row = (
                    DownloadJob.objects.filter(pk=self.model_id)
                    .values("run_id", "status", "cancel_requested")
                    .first()
                )
                if (
                    row is None
                    or row["run_id"] != self.run_id
                    or row["status"] != DownloadStatus.IN_PROGRESS
                    or row["cancel_requested"]
                ):
                    self.transfer.cancel()
                    return
                if time.monotonic() - last_beat >= HEARTBEAT_INTERVAL:
                    self._row().update(heartbeat=timezone.now())
                    last_beat = time.monotonic()
        except Exception:
            logger.exception("Download watcher of model %s failed", self.model_id)
        finally:
            connection.close()


# --- update ------------------------------------------------------------------------------------------------


def overview_with_description(overview: Any, description: str) -> Any:
    """The registry's `overview` carrying a new description (a JSON object keeps its other keys)."""
    if isinstance(overview, dict):
        return {**overview, "description": description}
    return description


def model_update_from_object(*, model_id: str, changes: dict[str, Any]) -> Model:
    """Apply the changeable fields of a Model object to a custom (user-uploaded) registry model.

    `name`, `version`, `format` and `description` (kept in the overview) go to the registry; the Pieces `type`
    and `usage` to the model's traits. A `type` equal to what the precision gives clears the override.
    """
    model = _model(model_id)
    if not model.is_custom:
        raise NotCustom(
            f"Model {model_id!r} was imported from Geti and cannot be updated here; only custom models "
            "(uploaded by a user) can be."
        )
    fields: dict[str, Any] = {key: changes[key] for key in ("name", "version", "format") if key in changes}
    if "description" in changes:
        fields["overview"] = overview_with_description(model.overview, changes["description"])
    with transaction.atomic():
        if fields:
            try:
                model = registry_services.model_update(model_id=model_id, fields=fields)
            except registry_services.ModelNotFound:
                raise LifecycleNotFound(model_id) from None
            except registry_services.ModelConflict as exc:
                raise ServiceError(exc.message, status_code=409) from None
        if "type" in changes or "usage" in changes:
            traits, _ = ModelTraits.objects.select_for_update().get_or_create(model=model)
            if "type" in changes:
                follows = type_from_precision(model.precision_list) == changes["type"]
                traits.type = "" if follows else changes["type"]
            if "usage" in changes:
                traits.usage = changes["usage"]
            traits.save()
            audit.record("update", "model", model_id, fields=sorted({"type", "usage"} & set(changes)))
    return model


def worker_started() -> None:
    """django-q2 `post_spawn`: pick up downloads that a crashed worker left IN-PROGRESS."""
    try:
        close_old_connections()
        recovered = download_recover()
        if recovered:
            logger.info("Recovered %d interrupted download(s) at worker start", recovered)
    except Exception:
        logger.exception("Could not check for interrupted downloads at worker start")
