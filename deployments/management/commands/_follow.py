"""Shared by `deploy` and `undeploy`: print a task's steps as they happen until it ends."""

import time

from django.core.management.base import BaseCommand, CommandError

from deployments import services
from deployments.models import DeploymentTask, TaskStatus


def follow(command: BaseCommand, task: DeploymentTask, *, timeout: float) -> None:
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while True:
        task = services.task_get(task_id=task.pk, kind=task.kind)
        for step in (task.metadata or {}).get("steps", []):
            if seen.get(step["name"]) != step["status"]:
                seen[step["name"]] = step["status"]
                detail = f"  {step['detail']}" if step["detail"] and step["status"] != "running" else ""
                command.stdout.write(f"  {step['name']:<10} {step['status']}{detail}")
        if task.is_final:
            break
        if time.monotonic() > deadline:
            raise CommandError(
                f"Task {task.pk} is still {task.status} after {timeout:g} s; follow it with GET /{task.kind}/{task.pk}."
            )
        time.sleep(0.2)
    style = command.style.SUCCESS if task.status == TaskStatus.DONE else command.style.ERROR
    command.stdout.write(style(f"{task.status}: {task.detail}"))
    if task.status != TaskStatus.DONE:
        raise CommandError(f"Task {task.pk} ended {task.status}.")
