"""Creating, cancelling and reaping deployment/deletion tasks. The work itself is in deployments/runner.py."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_q.tasks import async_task

from access import audit
from config.errors import ServiceError
from deployments.config import DeploymentConfig, parse_config
from deployments.models import ACTIVE_STATUSES, DeploymentTask, TaskKind, TaskStatus
from inference.cache import identity_for
from registry.models import Model

logger = logging.getLogger(__name__)


class TaskNotFound(ServiceError):
    status_code = 404


class ModelUnknown(ServiceError):
    status_code = 404


class TaskConflict(ServiceError):
    status_code = 409


def deployment_create(
    *, model_id: str, raw_config: object = None, task_id: str | None = None
) -> tuple[DeploymentTask, bool]:
    """A new pending deploy task (enqueued after commit), or the existing one for a repeated `task_id`.

    Returns (task, created). A task for a servable that is already being deployed is stored as `refused`.
    """
    return _task_create(kind=TaskKind.DEPLOY, model_id=model_id, raw_config=raw_config, task_id=task_id)


def deletion_create(*, model_id: str, task_id: str | None = None) -> tuple[DeploymentTask, bool]:
    return _task_create(kind=TaskKind.DELETE, model_id=model_id, raw_config=None, task_id=task_id)


def _task_create(
    *, kind: str, model_id: str, raw_config: object, task_id: str | None
) -> tuple[DeploymentTask, bool]:
    if task_id:
        existing = DeploymentTask.objects.filter(pk=task_id).first()
        if existing is not None:
            return _same_request(existing, kind=kind, model_id=model_id), False
    model = Model.objects.filter(pk=model_id).first()
    if model is None:
        raise ModelUnknown(f"Model {model_id} not found in the registry.")
    config = parse_config(raw_config) if kind == TaskKind.DEPLOY else DeploymentConfig()
    servable_name = (
        config.servable_name or identity_for(model).servable_name if kind == TaskKind.DEPLOY else ""
    )
    task = DeploymentTask(
        kind=kind,
        model_id=model_id,
        servable_name=servable_name,
        config=config.as_dict(),
        requested_by=audit.who(),
    )
    if task_id:
        task.id = task_id
    with transaction.atomic():
        blocker = _blocking_task(kind=kind, model_id=model_id, servable_name=servable_name)
        if blocker is not None:
            task.status = TaskStatus.REFUSED
            task.detail = _refusal(kind, blocker)
        try:
            with transaction.atomic():
                task.save(force_insert=True)
        except IntegrityError:  # the same task id, created a moment ago by a concurrent request
            return _same_request(DeploymentTask.objects.get(pk=task.pk), kind=kind, model_id=model_id), False
        if task.status == TaskStatus.PENDING:
            transaction.on_commit(lambda: enqueue(task.pk))
    logger.info("Created %s task %s for model %s (%s)", kind, task.pk, model_id, task.status)
    action = "deploy" if kind == TaskKind.DEPLOY else "delete_deployment"
    audit.record(action, "model", model_id, task=task.pk, status=task.status, servable=servable_name)
    return task, True


def _same_request(task: DeploymentTask, *, kind: str, model_id: str) -> DeploymentTask:
    if task.kind != kind or task.model_id != model_id:
        raise TaskConflict(
            f"Task id {task.pk} is already used by a {task.kind} task for model {task.model_id}."
        )
    return task


def _blocking_task(*, kind: str, model_id: str, servable_name: str) -> DeploymentTask | None:
    """A running task this one must not overlap with.

    Deploy: another deployment of the same servable (two green switches at once would fight over the default
    version) or a deletion of the same model. Delete: a deployment of the model.
    """
    active = DeploymentTask.objects.filter(status__in=ACTIVE_STATUSES)
    if kind == TaskKind.DEPLOY:
        return (
            active.filter(kind=TaskKind.DEPLOY, servable_name=servable_name)
            | active.filter(kind=TaskKind.DELETE, model_id=model_id)
        ).first()
    return active.filter(kind=TaskKind.DEPLOY, model_id=model_id).first()


def _refusal(kind: str, blocker: DeploymentTask) -> str:
    if kind == TaskKind.DELETE:
        return f"Refused: deployment task {blocker.pk} of model {blocker.model_id} is {blocker.status}; cancel it or wait for it to finish."
    if blocker.kind == TaskKind.DELETE:
        return f"Refused: deletion task {blocker.pk} of model {blocker.model_id} is {blocker.status}."
    return (
        f"Refused: deployment task {blocker.pk} (model {blocker.model_id}) is already {blocker.status} for servable "
        f"{blocker.servable_name}; wait for it to finish or cancel it, then deploy again."
    )


def enqueue(task_id: str) -> None:
    async_task("deployments.tasks.run_task", task_id, task_name=f"deployment-{task_id}", group="deployments")


def task_cancel(*, task_id: str) -> DeploymentTask:
    """Cancel a pending task at once, or ask the worker to stop a running deployment before its switch."""
    task = task_get(task_id=task_id, kind=TaskKind.DEPLOY)
    audit.record("cancel_deployment", "deployment_task", task_id, model_id=task.model_id)
    if DeploymentTask.objects.filter(pk=task_id, status=TaskStatus.PENDING).update(
        status=TaskStatus.CANCELED, detail="Canceled before it started.", updated_at=timezone.now()
    ):
        return DeploymentTask.objects.get(pk=task_id)
    if task.status == TaskStatus.PROCESSING:
        if task.metadata.get("switched_at"):
            raise TaskConflict(
                f"Deployment {task_id} has already switched traffic to the new version; deploy the previous model "
                "again to roll back."
            )
        DeploymentTask.objects.filter(pk=task_id, status=TaskStatus.PROCESSING).update(cancel_requested=True)
        task.refresh_from_db()
        return task
    raise TaskConflict(f"Deployment {task_id} is already {task.status}; nothing to cancel.")


PROMOTE, ROLLBACK, WEIGHT = "promote", "rollback", "weight"


def task_control(*, task_id: str, action: str, weight: int | None = None) -> DeploymentTask:
    """Ask the worker holding a canary or shadow to promote it, roll it back or change its weight.

    Applied within a fraction of a second by the worker (deployments/progressive.py), which records it in the
    task's history. 409 with the reason when the task is not a running canary or shadow, or when a previous
    request is still being applied."""
    task = task_get(task_id=task_id, kind=TaskKind.DEPLOY)
    strategy = (task.config or {}).get("strategy", "green")
    if strategy not in ("canary", "shadow"):
        raise TaskConflict(f"Deployment {task_id} is a {strategy} deployment, not a canary or shadow.")
    if task.status != TaskStatus.PROCESSING:
        raise TaskConflict(f"Deployment {task_id} is {task.status}, not a running {strategy}.")
    if task.metadata.get("switched_at") or task.metadata.get("candidate") is None:
        stage = (
            "has already been promoted"
            if task.metadata.get("switched_at")
            else "is still staging its candidate"
        )
        raise TaskConflict(f"Deployment {task_id} {stage}; try again when it holds a weight.")
    control = {"action": action, "by": audit.who(), "at": timezone.now().isoformat()}
    if action == WEIGHT:
        control["weight"] = weight
    updated = DeploymentTask.objects.filter(
        pk=task_id, status=TaskStatus.PROCESSING, control__isnull=True
    ).update(control=control)
    if not updated:
        raise TaskConflict(
            f"Deployment {task_id} is still applying a previous request; try again in a moment."
        )
    audit.record(
        f"{action}_deployment" if action != WEIGHT else "set_deployment_weight", "deployment_task", task_id,
        model_id=task.model_id, servable=task.servable_name, weight=weight,
    )  # fmt: skip
    task.refresh_from_db()
    return task


def task_get(*, task_id: str, kind: str) -> DeploymentTask:
    task = DeploymentTask.objects.filter(pk=task_id, kind=kind).first()
    if task is None:
        noun = "Deployment" if kind == TaskKind.DEPLOY else "Deletion"
        raise TaskNotFound(f"{noun} task {task_id} not found.")
    return reap_if_stale(task)


def newest_task_for_model(*, model_id: str, kind: str) -> DeploymentTask:
    task = DeploymentTask.objects.filter(model_id=model_id, kind=kind).order_by("-created_at").first()
    if task is None:
        noun = "deployment" if kind == TaskKind.DEPLOY else "deletion"
        raise TaskNotFound(f"No {noun} task for model {model_id}.")
    return reap_if_stale(task)


def reap_if_stale(task: DeploymentTask) -> DeploymentTask:
    """A task whose worker stopped heartbeating ends `failed` (after undoing what it staged), never stuck."""
    if task.status != TaskStatus.PROCESSING or task.heartbeat_at is None:
        return task
    if task.heartbeat_at > timezone.now() - timedelta(seconds=settings.DEPLOYMENT_STALE_SECONDS):
        return task
    from deployments.runner import abandon  # the runner imports this module

    abandon(task)
    task.refresh_from_db()
    return task


def reap_stale_tasks() -> int:
    """Fail every task whose worker died (scheduled every minute, and run when a worker starts a task)."""
    stale_before = timezone.now() - timedelta(seconds=settings.DEPLOYMENT_STALE_SECONDS)
    reaped = 0
    for task in DeploymentTask.objects.filter(status=TaskStatus.PROCESSING, heartbeat_at__lt=stale_before):
        reaped += reap_if_stale(task).status == TaskStatus.FAILED
    return reaped
