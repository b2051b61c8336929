"""The work of a deployment or deletion task, step by step, in a django-q2 worker.

Green deployment (DESIGN.md section 7): the servable's current default version is pinned, the new model is added
as another version beside it, every live server process compiles and warms it up, then the default switches
to it at one instant all processes learned in advance (`Servable.default_switch_at`), in-flight requests finish
on the old version, which stays loaded for `drain_seconds` and is then removed. Until the switch any failure or
cancel undoes the staging and the old version never stops serving.
"""

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import openvino as ov
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from access.redaction import shown_error
from config.errors import describe_error
from deployments import progressive
from deployments.config import DeploymentConfig
from deployments.models import DeploymentTask, TaskKind, TaskStatus
from deployments.progressive import RolledBack
from inference import cache
from inference.lifecycle.models import DownloadJob
from inference.lifecycle.nodes import live_nodes, node_name, request_removal_from_nodes
from inference.models import Servable, ServedVersion, ServingGeneration, VersionState
from inference.selectors import live_processes, served_versions_of, serving_status, version_progress
from inference.services import servable_load, servable_unload
from registry.models import Model

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 1.0
# How long a switch waits, after its instant, for a server process that did not read it in time, to record when
# every process had switched (metadata `all_switched_at`).
LATE_SWITCH_WAIT_SECONDS = 30


class Refused(Exception):
    """The request cannot be carried out (the model cannot be served, nothing to delete)."""


class Canceled(Exception):
    pass


class Lost(Exception):
    """Someone else ended this task (reaped as stale): stop without touching it."""


def run(task_id: str) -> None:
    """Run a task once: only the delivery that moves it from pending to processing does the work."""
    from deployments.services import reap_stale_tasks

    reap_stale_tasks()
    claimed = DeploymentTask.objects.filter(pk=task_id, status=TaskStatus.PENDING).update(
        status=TaskStatus.PROCESSING, heartbeat_at=timezone.now(), updated_at=timezone.now()
    )
    if not claimed:
        logger.info("Task %s is not pending (delivered twice, canceled or reaped): skipping", task_id)
        return
    task = DeploymentTask.objects.get(pk=task_id)
    DeploymentTask.objects.filter(pk=task_id).update(attempts=task.attempts + 1)
    run_ = TaskRun(task)
    try:
        if task.kind == TaskKind.DEPLOY:
            detail = _deploy(run_)
        else:
            detail = _delete(run_)
        run_.finish(TaskStatus.DONE, detail)
    except Refused as exc:
        run_.finish(TaskStatus.REFUSED, str(exc))
    except Canceled:
        run_.finish(TaskStatus.CANCELED, "Canceled on request; the previous version kept serving.")
    except RolledBack as exc:
        run_.finish(exc.status, exc.detail)
    except Lost:
        logger.warning("Task %s was ended by someone else while it ran", task_id)
    except Exception as exc:
        logger.exception("Task %s failed", task_id)
        run_.finish(TaskStatus.FAILED, shown_error(describe_error(exc)))


class StepFailed(Exception):
    pass


class TaskRun:
    """Records steps and heartbeats in the task row; notices cancel requests and lost ownership."""

    def __init__(self, task: DeploymentTask) -> None:
        self.task = task
        self.metadata: dict[str, Any] = {"steps": [], **(task.metadata or {})}
        self.undo: list[Any] = []
        self._last_beat = 0.0

    def save(self, **fields: Any) -> None:
        updated = DeploymentTask.objects.filter(pk=self.task.pk, status=TaskStatus.PROCESSING).update(
            metadata=self.metadata, heartbeat_at=timezone.now(), updated_at=timezone.now(), **fields
        )
        if not updated:
            raise Lost()
        self._last_beat = time.monotonic()

    def beat(self, *, cancellable: bool = True) -> None:
        """Heartbeat at most once a second; raise Canceled when a cancel was requested."""
        if time.monotonic() - self._last_beat >= HEARTBEAT_SECONDS:
            self.save()
        if cancellable and DeploymentTask.objects.filter(pk=self.task.pk, cancel_requested=True).exists():
            raise Canceled()

    def poll(self) -> dict[str, Any] | None:
        """beat() (Canceled on a cancel request), then take an operator's pending request (promote, rollback,
        weight), if any.

        The API writes `control` only while it is empty, so reading then clearing it loses nothing."""
        if time.monotonic() - self._last_beat >= HEARTBEAT_SECONDS:
            self.save()
        canceled, control = DeploymentTask.objects.filter(pk=self.task.pk).values_list(
            "cancel_requested", "control"
        ).first() or (False, None)  # one query for both: a canary may be held for hours
        if canceled:
            raise Canceled()
        if control:
            DeploymentTask.objects.filter(pk=self.task.pk).update(control=None)
        return control

    @contextmanager
    def step(self, name: str, *, cancellable: bool = True) -> Iterator[dict[str, Any]]:
        if cancellable:
            self.beat()
        record: dict[str, Any] = {
            "name": name,
            "status": "running",
            "started_at": _now(),
            "finished_at": None,
            "detail": "",
        }
        self.metadata["steps"].append(record)
        self.metadata["current_step"] = name
        self.save()
        try:
            yield record
        except BaseException as exc:
            record["status"] = "canceled" if isinstance(exc, Canceled) else "failed"
            record["detail"] = record["detail"] or str(exc)
            record["finished_at"] = _now()
            if not isinstance(exc, Lost):
                self.save()
            raise
        record["status"] = "done"
        record["finished_at"] = _now()
        self.save()

    def finish(self, status: str, detail: str) -> None:
        if status != TaskStatus.DONE:
            for undo in reversed(self.undo):
                try:
                    undo()
                except Exception:
                    logger.exception("Undoing a step of task %s failed", self.task.pk)
        self.metadata["current_step"] = None
        self.metadata["finished_at"] = _now()
        DeploymentTask.objects.filter(pk=self.task.pk, status=TaskStatus.PROCESSING).update(
            status=status,
            detail=detail,
            metadata=self.metadata,
            heartbeat_at=timezone.now(),
            updated_at=timezone.now(),
        )
        logger.info(
            "Task %s (%s of model %s) ended %s: %s",
            self.task.pk,
            self.task.kind,
            self.task.model_id,
            status,
            detail,
        )


def _now() -> str:
    return _iso(timezone.now())


def _iso(moment: Any) -> str:
    return str(moment.isoformat().replace("+00:00", "Z"))


# --- deploy ---------------------------------------------------------------------------------------------


def _deploy(run: TaskRun) -> str:
    task = run.task
    config = DeploymentConfig(**task.config)
    model = Model.objects.filter(pk=task.model_id).first()
    if model is None:
        raise Refused(f"Model {task.model_id} no longer exists in the registry.")

    with run.step("download") as step:
        if not model.file:
            raise Refused(
                f"Model {model.pk} has no stored file: it was registered from a URL and not downloaded yet "
                f"(POST /model/{model.pk}/download)."
            )
        try:
            folder = cache.materialize(model, should_cancel=lambda: _cancel_requested(task.pk))
        except cache.MaterializeCanceled:
            raise Canceled() from None
        except cache.MaterializeFailed as exc:
            raise Refused(str(exc)) from None
        step["detail"] = str(folder)

    with run.step("validate") as step:
        step["detail"] = _check_compiles(folder, config)
        if node_name() not in live_nodes():  # a worker-only host: nothing here serves it, keep no copy
            cache.evict(model)

    name = config.servable_name or cache.identity_for(model).servable_name
    with run.step("stage") as step:
        previous = _current_default(name)
        if config.progressive and previous is None:
            raise Refused(
                f"A {config.strategy} needs a version in service to compare with, and {name} serves none: "
                "deploy its first version with the green strategy."
            )
        run.metadata["previous"] = previous
        _pin_default(name, previous["version"] if previous else None, run)
        already_staged = ServedVersion.objects.filter(servable__name=name, model=model).exists()
        served = servable_load(
            model_id=model.pk,
            config={"name": name, "target_device": config.target_device, "plugin_config": config.plugin_config,
                    "nireq": config.nireq, "warmup": config.warmup, "scheduler": config.scheduler},
        )  # fmt: skip
        version = served.version
        run.metadata["new"] = {"servable": name, "version": version, "model_id": model.pk}
        if previous and previous["version"] == version:
            step["detail"] = f"{name}:{version} already serves model {model.pk}"
            return f"Model {model.pk} already serves as {name} version {version}; nothing to switch."
        if not already_staged:
            run.undo.append(lambda: _unstage(name, version))
        step["detail"] = f"added {name} version {version} beside {_describe(previous)}"

    with run.step("warm-up") as step:
        step["detail"] = _wait_until_served(run, name, version, config.load_timeout_seconds)

    if config.progressive:
        assert previous is not None
        progressive.run_until_promoted(
            run, name=name, stable=previous["version"], candidate=version, config=config
        )

    with run.step("switch", cancellable=False) as step:
        switch_at = _switch(name, previous, version, config.drain_seconds)
        run.undo.clear()  # from here on the new version serves: failures no longer roll back
        run.metadata["switched_at"] = _iso(switch_at)
        run.metadata["time_to_switch_seconds"] = round((switch_at - task.created_at).total_seconds(), 3)
        run.save()
        acknowledged = _wait_for_acknowledgement(run, switch_at)
        _sleep_until(run, switch_at)
        if config.progressive:
            progressive.set_split(name, version=None, weight=0, mode=config.strategy)
        late, switched_everywhere = _late_switch(run, switch_at) if not acknowledged else ("", switch_at)
        step["detail"] = f"default of {name} is version {version} since {run.metadata['switched_at']}{late}"

    if previous:
        with run.step("drain", cancellable=False) as step:
            _sleep_until(run, switched_everywhere + timedelta(seconds=config.drain_seconds))
            step["detail"] = f"version {previous['version']} kept loaded for {config.drain_seconds:g} s"
        with run.step("retire", cancellable=False) as step:
            _retire(name, previous["version"])
            step["detail"] = f"removed version {previous['version']} (model {previous['model_id']})"
    return f"Model {model.pk} serves as {name} version {version}" + (
        f", replacing version {previous['version']}." if previous else "."
    )


def _cancel_requested(task_id: str) -> bool:
    return DeploymentTask.objects.filter(pk=task_id, cancel_requested=True).exists()


def _check_compiles(folder: Any, config: DeploymentConfig) -> str:
    """Compile once in the worker, so a model no server can run is refused before any server is touched."""
    try:
        model_file = cache.model_file_in(folder)
        core = ov.Core()
        model = core.read_model(str(model_file))
        core.compile_model(model, "CPU" if config.target_device == "AUTO" else config.target_device, {})
    except Exception as exc:
        logger.info("Model in %s does not compile: %s", folder, describe_error(exc))
        raise Refused(f"The model cannot be served: {shown_error(describe_error(exc))}") from None
    return f"{model_file.name} compiles on {config.target_device}"


def _current_default(name: str) -> dict[str, Any] | None:
    """The version requests without a version get now: the pinned default, else the highest version."""
    servable = Servable.objects.filter(name=name).first()
    if servable is None:
        return None
    rows = {row.version: row for row in servable.versions.all()}
    number = servable.default_version if servable.default_version in rows else max(rows, default=None)
    if number is None:
        return None
    return {"version": number, "model_id": rows[number].model_id}


def _pin_default(name: str, version: int | None, run: TaskRun) -> None:
    """Keep today's default answering while another version is added (the highest would otherwise win)."""
    if version is None:
        return
    with transaction.atomic():
        servable = Servable.objects.select_for_update().get(name=name)
        before = (servable.default_version, servable.previous_default_version, servable.default_switch_at)
        servable.default_version, servable.previous_default_version, servable.default_switch_at = (
            version,
            None,
            None,
        )
        servable.save()
        ServingGeneration.bump()

    def restore() -> None:
        with transaction.atomic():
            updated = Servable.objects.filter(name=name).update(
                default_version=before[0], previous_default_version=before[1], default_switch_at=before[2]
            )
            if updated:
                ServingGeneration.bump()

    run.undo.append(restore)


def _unstage(name: str, version: int) -> None:
    with transaction.atomic():
        ServedVersion.objects.filter(servable__name=name, version=version).delete()
        Servable.objects.filter(name=name, versions__isnull=True).delete()
        ServingGeneration.bump()


def _wait_until_served(run: TaskRun, name: str, version: int, timeout: float) -> str:
    """Until every live server process has the version AVAILABLE (and warmed up); fail on a load error."""
    deadline = time.monotonic() + timeout
    while True:
        run.beat()
        progress = version_progress(name, version, VersionState.AVAILABLE)
        if progress is True:
            processes = live_processes().count()
            return f"{name}:{version} is AVAILABLE on {processes} server process(es)"
        if progress is False:
            errors = "; ".join(serving_status(name, version).errors) or "see the server log"
            raise StepFailed(f"Loading {name} version {version} failed on a server process: {errors}")
        if progress is None and not live_processes().exists():
            return "no server process is running: the version loads when one starts"
        if time.monotonic() > deadline:
            status = serving_status(name, version)
            raise StepFailed(
                f"{name} version {version} was not AVAILABLE on every server process within {timeout:g} s "
                f"({status.available_on} of {status.processes})."
            )
        time.sleep(0.2)


def _switch(name: str, previous: dict[str, Any] | None, version: int, drain_seconds: float) -> Any:
    """Make `version` the default at one moment every process knows in advance; keep the old one draining."""
    lead = timedelta(seconds=2 * settings.INFERENCE_RECONCILE_SECONDS + 0.5)
    switch_at = timezone.now() + lead
    with transaction.atomic():
        servable = Servable.objects.select_for_update().get(name=name)
        servable.previous_default_version = previous["version"] if previous else None
        servable.default_version = version
        servable.default_switch_at = switch_at
        servable.save()
        if previous:
            ServedVersion.objects.filter(servable=servable, version=previous["version"]).update(
                retain_until=switch_at + timedelta(seconds=drain_seconds)
            )
        ServingGeneration.bump()
    return switch_at


def _late_switch(run: TaskRun, switch_at: Any) -> tuple[str, Any]:
    """A process too busy to read the switch before its instant serves the old version until it does: wait for it
    (bounded), record when every process had switched (metadata `all_switched_at`), and drain from then."""
    if not _wait_for_acknowledgement(run, switch_at + timedelta(seconds=LATE_SWITCH_WAIT_SECONDS)):
        return f" (a server process had not learned of it {LATE_SWITCH_WAIT_SECONDS} s later)", timezone.now()
    everywhere = timezone.now()
    run.metadata["all_switched_at"] = _iso(everywhere)
    return (
        f" (a server process learned of it late: all had switched at {run.metadata['all_switched_at']})",
        everywhere,
    )


def _wait_for_acknowledgement(run: TaskRun, deadline: Any) -> bool:
    """True when every live server process has read the switch before `deadline`."""
    generation = ServingGeneration.current()
    while timezone.now() < deadline:
        if not live_processes().filter(generation_seen__lt=generation).exists():
            return True
        run.beat(cancellable=False)
        time.sleep(0.05)
    return not live_processes().filter(generation_seen__lt=generation).exists()


def _retire(name: str, version: int) -> None:
    with transaction.atomic():
        ServedVersion.objects.filter(servable__name=name, version=version).delete()
        Servable.objects.filter(name=name).update(
            previous_default_version=None, default_switch_at=None, candidate_version=None, candidate_weight=0
        )
        ServingGeneration.bump()


def _sleep_until(run: TaskRun, moment: Any) -> None:
    while (remaining := (moment - timezone.now()).total_seconds()) > 0:
        run.beat(cancellable=False)
        time.sleep(min(remaining, 0.2))


def _describe(previous: dict[str, Any] | None) -> str:
    return (
        f"version {previous['version']} (model {previous['model_id']})"
        if previous
        else "nothing (first version)"
    )


# --- delete ---------------------------------------------------------------------------------------------


def _delete(run: TaskRun) -> str:
    model = Model.objects.filter(pk=run.task.model_id).first()
    if model is None:
        raise Refused(f"Model {run.task.model_id} no longer exists in the registry.")
    served = served_versions_of(model.pk)
    cached = cache.cached_path(model)
    on_nodes = DownloadJob.objects.filter(model=model).exists()  # downloaded to (or downloading on) the nodes
    if not served and cached is None and not on_nodes:
        raise Refused(f"Model {model.pk} is not deployed: it is not served and has no local files.")
    with run.step("unload") as step:
        servable_unload(model_id=model.pk)
        for row in served:
            deadline = time.monotonic() + 30
            while (
                version_progress(row.servable.name, row.version, VersionState.END) is None
                and time.monotonic() < deadline
            ):
                run.beat(cancellable=False)
                time.sleep(0.2)
        step["detail"] = ", ".join(f"{row.servable.name}:{row.version}" for row in served) or "was not served"
    with run.step("remove files") as step:
        # Every node drops its copy (inference.lifecycle.nodes); this worker's own node too, if it has one.
        step["detail"] = request_removal_from_nodes(model)
        if cache.evict(model):
            step["detail"] += f"; removed {cached}"
    return f"Model {model.pk} is no longer served and its local files are being removed from every node."


# --- crash recovery -------------------------------------------------------------------------------------


def abandon(task: DeploymentTask) -> None:
    """End a task whose worker died: undo its staging if the switch had not happened, then mark it failed."""
    metadata = dict(task.metadata or {})
    new = metadata.get("new")
    if task.kind == TaskKind.DEPLOY and new and not metadata.get("switched_at"):
        previous = metadata.get("previous")
        if not (previous and previous.get("model_id") == new["model_id"]):
            _unstage(new["servable"], new["version"])
        with transaction.atomic():
            if Servable.objects.filter(name=new["servable"]).update(
                default_version=previous["version"] if previous else None,
                previous_default_version=None,
                default_switch_at=None,
                candidate_version=None,  # a canary or shadow: its weight goes back to 0
                candidate_weight=0,
            ):
                ServingGeneration.bump()
    elif task.kind == TaskKind.DEPLOY and new and metadata.get("switched_at") and metadata.get("previous"):
        _retire(new["servable"], metadata["previous"]["version"])
    last = task.heartbeat_at.isoformat() if task.heartbeat_at else "never"
    for step in metadata.get("steps", []):  # the dead worker's open step must not show `running` forever
        if step.get("status") == "running":
            step.update(
                status="failed",
                finished_at=_now(),
                detail=step.get("detail") or f"The worker running this step stopped (last heartbeat {last}).",
            )
    metadata.update(current_step=None, finished_at=_now())
    DeploymentTask.objects.filter(pk=task.pk, status=TaskStatus.PROCESSING).update(
        metadata=metadata,
        status=TaskStatus.FAILED,
        detail=f"The worker running this task stopped (last heartbeat {last}); the previous version kept serving"
        + (
            "; the candidate's weight is back to 0."
            if metadata.get("strategy") in ("canary", "shadow")
            else "."
        )
        if not metadata.get("switched_at")
        else f"The worker stopped after the switch (last heartbeat {last}); the new version serves, the old one was removed.",
        updated_at=timezone.now(),
    )
