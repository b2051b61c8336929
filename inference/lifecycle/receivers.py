"""Signal receivers: refuse deleting a model mid-download, recover interrupted downloads, keep the schedule."""

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.dispatch import receiver
from django_q.signals import post_spawn

from inference.lifecycle import services
from inference.lifecycle.models import ACTIVE_STATUSES, DownloadJob
from registry.models import Model
from registry.services import ModelInUse, model_delete_requested

RECOVERY_SCHEDULE = "lifecycle: recover interrupted downloads"


@receiver(model_delete_requested, sender=Model, dispatch_uid="lifecycle-refuse-delete-while-downloading")
def refuse_delete_while_downloading(sender: type[Model], model: Model, **kwargs: Any) -> None:
    if DownloadJob.objects.filter(pk=model.pk, status__in=ACTIVE_STATUSES).exists():
        raise ModelInUse(
            f"Model {model.pk} is being downloaded; cancel the download first (POST /model/{model.pk}/download/cancel)."
        )


@receiver(post_spawn, dispatch_uid="lifecycle-recover-on-worker-start")
def recover_on_worker_start(sender: Any, **kwargs: Any) -> None:
    services.worker_started()


@receiver(post_migrate, dispatch_uid="lifecycle-recovery-schedule")
def ensure_recovery_schedule(sender: AppConfig, **kwargs: Any) -> None:
    """Every minute a worker looks for downloads whose worker died (a backstop to the checks on read)."""
    if sender.label != "lifecycle":
        return
    from django_q.models import Schedule

    using = kwargs.get("using", "default")
    Schedule.objects.using(using).update_or_create(
        name=RECOVERY_SCHEDULE,
        defaults={
            "func": "inference.lifecycle.tasks.recover_stale_downloads",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
