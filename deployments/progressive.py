"""Canary and shadow deployments: the part of a deploy task between warm-up and the switch.

The candidate is staged and warmed up beside the stable version exactly as for a green deployment; then it gets
a weight in the serving state (`Servable.candidate_*`, read by every server process: inference/canary.py) and
the task holds it there. Manual (`weight`): until an operator promotes, rolls back or sets another weight
(POST /deploy/{id}/promote|rollback|weight write `DeploymentTask.control`, which the worker polls). Automatic
(`steps`): each step is held `step_seconds`, then judged (deployments/analysis.py) on the traffic samples of
every process and node; a pass raises the weight, the last pass promotes, a failure rolls back at once and ends
the task `failed` with the figures that decided it. Promotion is the green switch that follows; a rollback
sets the weight to 0 and removes the candidate in one serving-state change. Every decision is a step of the
task's history and an audit event.
"""

import time
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from access import audit
from deployments import analysis
from deployments.config import DeploymentConfig
from deployments.models import TaskStatus
from inference.models import Servable, ServedVersion, ServingGeneration
from inference.selectors import live_processes

if TYPE_CHECKING:
    from deployments.runner import TaskRun

POLL_SECONDS = 0.2


class RolledBack(Exception):
    """A canary or shadow was rolled back: by the analysis (the task fails) or by an operator (canceled)."""

    def __init__(self, status: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def set_split(name: str, *, version: int | None, weight: int, mode: str) -> None:
    """Give `version` `weight` % of the version-less requests of `name` (None / 0: no candidate)."""
    with transaction.atomic():
        if Servable.objects.filter(name=name).update(
            candidate_version=version,
            candidate_weight=weight if version is not None else 0,
            candidate_mode=mode,
        ):
            ServingGeneration.bump()


def roll_back(name: str, candidate: int) -> None:
    """Weight 0 and the candidate removed in one change: a process either routes to it (still loaded) or not."""
    with transaction.atomic():
        Servable.objects.filter(name=name).update(candidate_version=None, candidate_weight=0)
        ServedVersion.objects.filter(servable__name=name, version=candidate).delete()
        ServingGeneration.bump()


def run_until_promoted(
    run: "TaskRun", *, name: str, stable: int, candidate: int, config: DeploymentConfig
) -> None:
    """Hold the candidate at its weight(s) until it is promoted (return) or rolled back (RolledBack)."""
    mode = config.strategy
    run.metadata.update(
        strategy=mode,
        candidate={"servable": name, "version": candidate, "stable": stable},
        weight=0,
        analysis=[],
    )
    run.undo.append(lambda: set_split(name, version=None, weight=0, mode=mode))  # undone before the unstaging
    began = timezone.now()
    weights = list(config.steps) or [config.weight or 0]
    automatic = bool(config.steps)
    index, by = 0, "config"
    while True:
        outcome = _hold(
            run, name=name, stable=stable, candidate=candidate, weight=weights[index], mode=mode, by=by,
            config=config if automatic else None, began=began,
        )  # fmt: skip
        if outcome[0] == "promote":
            return
        if outcome[0] == "next":
            if index + 1 == len(weights):
                return  # the last step passed: promote
            index, by = index + 1, "analysis"
            continue
        if outcome[0] == "weight":  # an operator took over: manual from here on
            weights, index, by, automatic = [outcome[1]], 0, outcome[2], False
            continue
        _, status, detail = outcome
        with run.step("rollback", cancellable=False) as step:
            roll_back(name, candidate)
            run.metadata["weight"] = 0
            acknowledged = _wait_acknowledged(run)
            step["detail"] = (
                f"weight 0, version {candidate} removed; version {stable} serves every request"
                + ("" if acknowledged else " (a server process learned of it late)")
            )
        audit.record("rollback", "servable", name, version=candidate, task=run.task.pk, reason=detail)
        raise RolledBack(status, detail)


def _hold(
    run: "TaskRun",
    *,
    name: str,
    stable: int,
    candidate: int,
    weight: int,
    mode: str,
    by: str,
    config: DeploymentConfig | None,
    began: Any,
) -> tuple[Any, ...]:
    """One step at one weight: ("promote",), ("next",), ("weight", N, by) or ("rollback", status, detail)."""
    set_split(name, version=candidate, weight=weight, mode=mode)
    run.metadata["weight"] = (
        weight  # saved with the step below: a reader never sees the step without its weight
    )
    with run.step(f"{mode} {weight}%") as step:
        step["detail"] = f"version {candidate} gets {weight}% of version-less requests" + (
            " (copies)" if mode == "shadow" else ""
        ) + f", set by {by}"  # fmt: skip
        run.save()
        audit.record("set_weight", "servable", name, version=candidate, weight=weight, mode=mode, by=by,
                     task=run.task.pk)  # fmt: skip
        started = timezone.now()
        # Traffic samples are written every TRAFFIC_SECONDS: judge once the rows covering the step are stored.
        settle = settings.TRAFFIC_SECONDS + 1.0
        judge_at = time.monotonic() + config.step_seconds + settle if config is not None else None
        waiting_noted = False
        while True:
            control = run.poll()
            if control:
                who, action = control.get("by") or "an operator", control.get("action")
                if action == "promote":
                    step["detail"] += f"; promoted by {who}"
                    return ("promote",)
                if action == "rollback":
                    step["detail"] += f"; rolled back by {who}"
                    return (
                        "rollback",
                        TaskStatus.CANCELED,
                        f"Rolled back by {who} at {weight}%; version {stable} kept serving.",
                    )
                if action == "weight":
                    step["detail"] += f"; {who} set {control['weight']}%"
                    return ("weight", int(control["weight"]), who)
            if judge_at is not None and config is not None and time.monotonic() >= judge_at:
                figures = analysis.figures_between(name, since=started)
                baseline = analysis.figures_between(name, since=began)
                verdict = analysis.judge(
                    candidate=figures.get(candidate, analysis.Figures()),
                    stable=baseline.get(stable, analysis.Figures()),
                    thresholds=config.thresholds,
                )
                entry = {"step": weight, "at": _now(), **verdict.as_dict()}
                if verdict.outcome == analysis.WAIT:
                    if not waiting_noted:  # noted once per step; the step goes on until enough requests came
                        run.metadata["analysis"].append(entry)
                        step["detail"] += f"; waiting: {verdict.reason}"
                        run.save()
                        waiting_noted = True
                    judge_at = time.monotonic() + 1.0
                    continue
                run.metadata["analysis"].append(entry)
                step["detail"] += f"; analysis {verdict.outcome}: {verdict.reason}"
                audit.record("canary_analysis", "servable", name, version=candidate, step=weight,
                             outcome=verdict.outcome, reason=verdict.reason, task=run.task.pk)  # fmt: skip
                if verdict.outcome == analysis.FAIL:
                    return (
                        "rollback",
                        TaskStatus.FAILED,
                        f"Automatic rollback at {weight}%: {verdict.reason}; version {stable} kept serving.",
                    )
                return ("next",)
            time.sleep(POLL_SECONDS)


def _wait_acknowledged(run: "TaskRun", timeout: float | None = None) -> bool:
    """True once every live server process has read the current serving state."""
    generation = ServingGeneration.current()
    deadline = time.monotonic() + (timeout or 3 * settings.INFERENCE_HEARTBEAT_SECONDS + 1)
    while time.monotonic() < deadline:
        if not live_processes().filter(generation_seen__lt=generation).exists():
            return True
        run.beat(cancellable=False)
        time.sleep(0.05)
    return False


def _now() -> str:
    return timezone.now().isoformat().replace("+00:00", "Z")
