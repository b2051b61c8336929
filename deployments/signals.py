from typing import Any

from deployments.models import ACTIVE_STATUSES, DeploymentTask
from registry.models import Model
from registry.services import ModelInUse


def refuse_deleting_deployed_model(sender: type[Model], model: Model, **kwargs: Any) -> None:
    task = DeploymentTask.objects.filter(model_id=model.pk, status__in=ACTIVE_STATUSES).first()
    if task is not None:
        raise ModelInUse(
            f"Model {model.pk} has a {task.kind} task {task.pk} that is {task.status}; wait for it or cancel it first."
        )
