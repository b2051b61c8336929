"""Reads for the operator console: one servable's serving state, traffic and deployment history."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from deployments.models import DeploymentTask, TaskKind, TaskStatus
from inference.cache import servable_name_for
from inference.models import (
    Servable,
    ServableIdentity,
    ServedVersion,
    ServingProcess,
    VersionReport,
    VersionState,
)
from inference.selectors import live_processes
from inference.traffic import TrafficPoint, traffic_recent, traffic_series
from registry.models import Model


@dataclass(frozen=True)
class ProcessState:
    process: str
    state: str
    error: str
    warmed_up: bool
    ram_bytes: int | None


@dataclass
class VersionRow:
    version: int
    model_id: str | None
    model_label: str
    is_default: bool
    retiring: bool
    states: list[ProcessState] = field(default_factory=list)


@dataclass(frozen=True)
class Progressive:
    """A canary or shadow that is running: its task, the two versions and their weights."""

    task_id: str
    mode: str  # canary or shadow
    stable: int
    candidate: int
    weight: int  # the candidate's % (of the requests for a canary, copied for a shadow)
    automatic: bool

    @property
    def stable_weight(self) -> int:
        return 100 if self.mode == "shadow" else 100 - self.weight


@dataclass
class ServableCard:
    name: str
    default_version: int | None
    default_rule: str  # how the default is chosen, in words
    processes: list[ServingProcess]
    versions: list[VersionRow]
    ram_per_process: dict[str, int]
    traffic: dict[int, list[TrafficPoint]]
    recent: dict[int, TrafficPoint]
    progressive: Progressive | None = None


def servable_names() -> list[str]:
    """Servables in the database, and those only server processes know (served from MODEL_CONFIG_PATH)."""
    names = set(Servable.objects.values_list("name", flat=True))
    names |= set(
        VersionReport.objects.filter(process__in=live_processes()).values_list("servable_name", flat=True)
    )
    return sorted(names)


def servable_card(name: str, *, now: datetime | None = None) -> ServableCard:
    """Everything the overview shows about one servable (raises Servable.DoesNotExist)."""
    now = now or timezone.now()
    servable = Servable.objects.filter(name=name).first()
    processes = list(live_processes().order_by("host", "pid"))
    reports = {
        (report.process_id, report.version): report
        for report in VersionReport.objects.filter(servable_name=name, process__in=processes)
    }
    if servable is not None:
        rows = list(servable.versions.select_related("model").order_by("version"))
        default, rule = effective_default(servable, [row.version for row in rows], now=now)
    elif reports:  # known only to the server processes: a config.json servable
        rows = [ServedVersion(version=number) for number in sorted({version for _, version in reports})]
        available = [key[1] for key, report in reports.items() if report.state == VersionState.AVAILABLE]
        default, rule = max(available, default=None), "highest available version (config.json)"
    else:
        raise LookupError(f"No servable named {name}.")
    versions = []
    ram: dict[str, int] = {}
    for row in rows:
        states = []
        for process in processes:
            report = reports.get((process.pk, row.version))
            if report is None:
                states.append(ProcessState(_process_label(process), "not reported", "", False, None))
                continue
            states.append(
                ProcessState(
                    _process_label(process), VersionState(report.state).name,
                    report.error_message if report.error_code != "OK" else "", report.warmed_up, report.ram_bytes,
                )
            )  # fmt: skip
            if report.ram_bytes and report.state == VersionState.AVAILABLE:
                ram[_process_label(process)] = ram.get(_process_label(process), 0) + report.ram_bytes
        model = row.model
        versions.append(
            VersionRow(
                version=row.version,
                model_id=model.pk if model else None,
                model_label=f"{model.name} {model.version}" if model else "files in place (config.json)",
                is_default=row.version == default,
                retiring=row.retain_until is not None,
                states=states,
            )
        )
    return ServableCard(
        name=name, default_version=default, default_rule=rule, processes=processes, versions=versions,
        ram_per_process=ram, traffic=traffic_series(name, now=now), recent=traffic_recent(name, now=now),
        progressive=running_progressive(name),
    )  # fmt: skip


def running_progressive(name: str) -> Progressive | None:
    """The canary or shadow of this servable that holds a weight now, if any."""
    task = (
        DeploymentTask.objects.filter(servable_name=name, kind=TaskKind.DEPLOY, status=TaskStatus.PROCESSING)
        .order_by("-created_at")
        .first()
    )
    metadata = (task.metadata or {}) if task else {}
    candidate = metadata.get("candidate")
    if task is None or not candidate or metadata.get("switched_at"):
        return None
    return Progressive(
        task_id=task.pk, mode=metadata.get("strategy", "canary"), stable=candidate["stable"],
        candidate=candidate["version"], weight=int(metadata.get("weight") or 0),
        automatic=bool((task.config or {}).get("steps")),
    )  # fmt: skip


def effective_default(servable: Servable, versions: list[int], *, now: datetime) -> tuple[int | None, str]:
    """The version requests without a version get, and why (pinned, switching at a moment, or highest)."""
    if servable.default_version is not None:
        if servable.default_switch_at is not None and servable.default_switch_at > now:
            return servable.previous_default_version, (
                f"pinned; switches to {servable.default_version} at {servable.default_switch_at:%H:%M:%S}"
            )
        if servable.default_switch_at is not None:
            return servable.default_version, f"pinned (switched at {servable.default_switch_at:%H:%M:%S})"
        return servable.default_version, "pinned"
    return max(versions, default=None), "highest version (no pin)"


def _process_label(process: ServingProcess) -> str:
    return f"{process.host}:{process.pid}"


# --- deployment history -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepView:
    name: str
    status: str
    seconds: float | None
    detail: str


@dataclass(frozen=True)
class HistoryEntry:
    task: DeploymentTask
    requested_by: str | None
    version_before: int | None
    version_after: int | None
    time_to_switch_seconds: float | None
    seconds: float | None
    steps: list[StepView]


def requested_by_of(task: DeploymentTask) -> str | None:
    """Who asked for a task: the `requested_by` the access app (issue 13) records (a key's or user's name);
    None for tasks created before it existed or by the system."""
    value = getattr(task, "requested_by", None)
    return str(value) if value else None


def history(name: str, *, limit: int = 30) -> list[HistoryEntry]:
    """Deployments and deletions of a servable's models, newest first."""
    model_ids = set(ServableIdentity.objects.filter(servable_name=name).values_list("model_id", flat=True))
    tasks = DeploymentTask.objects.filter(
        Q(servable_name=name) | Q(kind=TaskKind.DELETE, model_id__in=model_ids)
    ).order_by("-created_at")[:limit]
    identities = dict(ServableIdentity.objects.filter(servable_name=name).values_list("model_id", "version"))
    entries = []
    for task in tasks:
        metadata = task.metadata or {}
        before = (metadata.get("previous") or {}).get("version")
        after = (metadata.get("new") or {}).get("version")
        if task.kind == TaskKind.DELETE:
            before, after = identities.get(task.model_id), None
        finished = _parse(metadata.get("finished_at"))
        entries.append(
            HistoryEntry(
                task=task,
                requested_by=requested_by_of(task),
                version_before=before,
                version_after=after,
                time_to_switch_seconds=metadata.get("time_to_switch_seconds"),
                seconds=(finished - task.created_at).total_seconds() if finished else None,
                steps=[_step(step) for step in metadata.get("steps", [])],
            )
        )
    return entries


def _step(step: dict[str, Any]) -> StepView:
    started, finished = _parse(step.get("started_at")), _parse(step.get("finished_at"))
    seconds = (finished - started).total_seconds() if started and finished else None
    return StepView(step.get("name", ""), step.get("status", ""), seconds, step.get("detail") or "")


def _parse(value: Any) -> datetime | None:
    return parse_datetime(value) if isinstance(value, str) else None


# --- what the buttons act on ----------------------------------------------------------------------------------


def deployable_models(name: str) -> list[Model]:
    """Registry models that deploy as this servable: those served or cached under it, and those whose name
    maps to it."""
    known = set(ServableIdentity.objects.filter(servable_name=name).values_list("model_id", flat=True))
    candidates = [
        model for model in Model.objects.order_by("-created_date") if servable_name_for(model.name) == name
    ]
    by_id = {model.pk: model for model in candidates}
    for model in Model.objects.filter(pk__in=known - set(by_id)):
        by_id[model.pk] = model
    return sorted(by_id.values(), key=lambda model: model.created_date, reverse=True)


def rollback_target(name: str) -> tuple[str, int] | None:
    """(model id, version) that served before the newest completed switch of this servable, if any."""
    tasks = DeploymentTask.objects.filter(servable_name=name, kind=TaskKind.DEPLOY, status=TaskStatus.DONE)
    for task in tasks.order_by("-created_at")[:20]:
        metadata = task.metadata or {}
        previous = metadata.get("previous") or {}
        if metadata.get("switched_at") and previous.get("model_id"):
            return previous["model_id"], previous["version"]
    return None


def current_default_model(name: str) -> str | None:
    servable = Servable.objects.filter(name=name).first()
    if servable is None:
        return None
    rows = {row.version: row.model_id for row in servable.versions.all()}
    default, _ = effective_default(servable, list(rows), now=timezone.now())
    return rows.get(default) if default is not None else None
