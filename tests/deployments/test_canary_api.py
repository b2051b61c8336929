"""POST /deploy/{task_id}/promote|rollback|weight: 202 for a running canary or shadow, 409 with the reason
otherwise, and the worker's crash recovery of a canary (the weight goes back to 0)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from access.models import AuditEvent
from deployments import runner
from deployments.models import DeploymentTask
from inference.models import Servable, ServedVersion, ServingGeneration

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> APIClient:
    return APIClient()


def task(status: str = "processing", strategy: str = "canary", **metadata: object) -> DeploymentTask:
    return DeploymentTask.objects.create(
        kind="deploy", model_id="m2", servable_name="const", status=status,
        config={"strategy": strategy, "weight": 20}, heartbeat_at=timezone.now(),
        metadata={"candidate": {"servable": "const", "version": 2, "stable": 1}, "weight": 20, **metadata},
    )  # fmt: skip


def test_a_running_canary_accepts_promote_rollback_and_weight_one_at_a_time(client: APIClient) -> None:
    running = task()
    response = client.post(f"/deploy/{running.pk}/weight", {"weight": 50}, format="json")
    assert response.status_code == 202, response.content
    running.refresh_from_db()
    assert running.control["action"] == "weight" and running.control["weight"] == 50
    busy = client.post(f"/deploy/{running.pk}/promote")
    assert busy.status_code == 409 and "still applying a previous request" in busy.json()["detail"]
    DeploymentTask.objects.filter(pk=running.pk).update(control=None)  # the worker took it
    assert client.post(f"/deploy/{running.pk}/rollback").status_code == 202
    assert AuditEvent.objects.filter(action="set_deployment_weight", object_id=running.pk).exists()
    assert AuditEvent.objects.filter(action="rollback_deployment", object_id=running.pk).exists()


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda: task(strategy="green"), "is a green deployment"),
        (lambda: task(status="done"), "is done, not a running canary"),
        (lambda: task(status="pending"), "is pending, not a running canary"),
        (lambda: task(switched_at="2026-01-01T00:00:00Z"), "has already been promoted"),
    ],
)
def test_anything_but_a_running_canary_or_shadow_is_409_with_the_reason(
    client: APIClient, make, reason: str
) -> None:  # type: ignore[no-untyped-def]
    target = make()
    for action in ("promote", "rollback"):
        response = client.post(f"/deploy/{target.pk}/{action}")
        assert response.status_code == 409 and reason in response.json()["detail"], response.content


def test_a_staging_canary_is_409_and_unknown_tasks_404(client: APIClient) -> None:
    staging = DeploymentTask.objects.create(
        kind="deploy", model_id="m2", servable_name="const", status="processing", config={"strategy": "canary"},
        heartbeat_at=timezone.now(), metadata={},
    )  # fmt: skip
    assert "still staging" in client.post(f"/deploy/{staging.pk}/promote").json()["detail"]
    assert client.post("/deploy/nope/promote").status_code == 404


@pytest.mark.parametrize(
    "body", [{}, {"weight": 101}, {"weight": -1}, {"weight": "x"}, {"weight": 5, "more": 1}]
)
def test_a_bad_weight_is_refused_before_the_task_is_read(client: APIClient, body: dict) -> None:
    running = task()
    response = client.post(f"/deploy/{running.pk}/weight", body, format="json")
    assert response.status_code == 422, response.content
    running.refresh_from_db()
    assert running.control is None


def test_a_worker_killed_mid_canary_leaves_weight_0_and_a_failed_task(settings) -> None:  # type: ignore[no-untyped-def]
    servable = Servable.objects.create(
        name="const", default_version=1, candidate_version=2, candidate_weight=20
    )
    for version in (1, 2):
        ServedVersion.objects.create(servable=servable, version=version)
    stale = task(strategy="canary", new={"servable": "const", "version": 2, "model_id": "m2"},
                 previous={"version": 1, "model_id": "m1"}, steps=[{"name": "canary 20%", "status": "running"}])  # fmt: skip
    DeploymentTask.objects.filter(pk=stale.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.DEPLOYMENT_STALE_SECONDS + 5),
        metadata={**stale.metadata, "strategy": "canary"},
    )
    generation = ServingGeneration.current()
    stale.refresh_from_db()
    runner.abandon(stale)
    stale.refresh_from_db()
    servable = Servable.objects.get(name="const")
    assert (servable.candidate_version, servable.candidate_weight, servable.default_version) == (None, 0, 1)
    assert list(servable.versions.values_list("version", flat=True)) == [1]
    assert ServingGeneration.current() > generation
    assert stale.status == "failed" and "back to 0" in stale.detail
    assert stale.metadata["steps"][0]["status"] == "failed"
