"""deployments.services.reap_stale_tasks: a task whose worker died ends failed, and so does its open step."""

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.models import DeploymentTask, TaskStatus
from deployments.services import reap_stale_tasks


@pytest.mark.django_db
def test_a_worker_killed_during_drain_leaves_no_step_running(settings) -> None:
    long_ago = timezone.now() - timedelta(seconds=settings.DEPLOYMENT_STALE_SECONDS + 60)
    started = long_ago.isoformat()
    task = DeploymentTask.objects.create(
        kind="deploy",
        model_id="m2",
        status=TaskStatus.PROCESSING,
        heartbeat_at=long_ago,
        metadata={
            "steps": [
                {
                    "name": "switch",
                    "status": "done",
                    "started_at": started,
                    "finished_at": started,
                    "detail": "",
                },
                {
                    "name": "drain",
                    "status": "running",
                    "started_at": started,
                    "finished_at": None,
                    "detail": "",
                },
            ],
            "current_step": "drain",
        },
    )
    assert reap_stale_tasks() == 1
    task.refresh_from_db()
    assert task.status == TaskStatus.FAILED and "stopped" in task.detail
    steps = {step["name"]: step for step in task.metadata["steps"]}
    assert steps["switch"]["status"] == "done"
    assert steps["drain"]["status"] == "failed" and steps["drain"]["finished_at"]
    assert "worker running this step stopped" in steps["drain"]["detail"]
    assert task.metadata["current_step"] is None
