"""Shared by `deploy`, `undeploy` and `canary`: print a task's steps as they happen until it ends."""

import time

from django.core.management.base import BaseCommand, CommandError

from deployments import services
from deployments.models import DeploymentTask, TaskStatus


def follow(command: BaseCommand, task: DeploymentTask, *, timeout: float, until_held: bool = False) -> None:
    """`until_held`: return once a manual canary or shadow holds its weight (it waits for an operator)."""
    seen: dict[int, str] = {}
    decisions = 0
    deadline = time.monotonic() + timeout
    while True:
        task = services.task_get(task_id=task.pk, kind=task.kind)
        metadata = task.metadata or {}
        for index, step in enumerate(metadata.get("steps", [])):
            if seen.get(index) != step["status"]:
                seen[index] = step["status"]
                detail = f"  {step['detail']}" if step["detail"] and step["status"] != "running" else ""
                command.stdout.write(f"  {step['name']:<12} {step['status']}{detail}")
        for decision in metadata.get("analysis", [])[decisions:]:
            command.stdout.write(
                f"    analysis at {decision['step']}%: {decision['outcome']} ({decision['reason']})"
            )
        decisions = len(metadata.get("analysis", []))
        if task.is_final:
            break
        held = (metadata.get("current_step") or "").endswith("%") and not (task.config or {}).get("steps")
        if until_held and held and task.control is None:
            command.stdout.write(
                f"Holding {metadata.get('weight')}%: `manage.py canary promote {task.pk}`, "
                f"`manage.py canary rollback {task.pk}` or `manage.py canary weight {task.pk} N`."
            )
            return
        if time.monotonic() > deadline:
            raise CommandError(
                f"Task {task.pk} is still {task.status} after {timeout:g} s; follow it with GET /{task.kind}/{task.pk}."
            )
        time.sleep(0.2)
    style = command.style.SUCCESS if task.status == TaskStatus.DONE else command.style.ERROR
    command.stdout.write(style(f"{task.status}: {task.detail}"))
    if task.status != TaskStatus.DONE:
        raise CommandError(f"Task {task.pk} ended {task.status}.")
