"""Deployment task API: bad input, idempotency, refusals, cancel, crash recovery, and the runner's state changes."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from deployments import runner
from deployments.models import DeploymentTask, TaskStatus
from inference.models import Servable, ServedVersion
from tests.modelfiles import build_constant_model, ir_zip

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client() -> APIClient:
    return APIClient()


def register(client: APIClient, tmp_path: Path, value: float, version: str, name: str = "const") -> str:
    archive = ir_zip(build_constant_model(value), tmp_path)
    response = client.post(
        "/models",
        {"file": SimpleUploadedFile("m.zip", archive), "name": name, "version": version},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    return response.content.decode()


def test_unknown_model_is_404(client: APIClient) -> None:
    response = client.post("/deploy", {"model_id": "nope"}, format="json")
    assert response.status_code == 404
    assert response.json() == {"detail": "Model nope not found in the registry."}


@pytest.mark.parametrize(
    "body, loc",
    [
        ({}, ["body", "model_id"]),
        ({"model_id": 5, "extra": 1}, ["body"]),
        ({"model_id": ["a"]}, ["body", "model_id"]),
        ([1, 2], ["body"]),
    ],
)
def test_malformed_body_is_422_naming_the_field(client: APIClient, body: object, loc: list[str]) -> None:
    response = client.post("/deploy", body, format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


def test_config_with_unknown_keys_or_bad_values_is_400_naming_them(client: APIClient, tmp_path: Path) -> None:
    model_id = register(client, tmp_path, 1.0, "1")
    response = client.post(
        "/deploy",
        {
            "model_id": model_id,
            "config": {"param": "value", "nireq": 0, "drain_seconds": "soon", "target_device": "TOASTER"},
        },
        format="json",
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    for fragment in ("unknown key(s): param", "nireq:", "drain_seconds:", "target_device:"):
        assert fragment in detail


def test_same_task_id_returns_the_same_task(client: APIClient, tmp_path: Path) -> None:
    model_id = register(client, tmp_path, 1.0, "1")
    first = client.post("/deploy", {"model_id": model_id, "id": "task-1"}, format="json")
    again = client.post("/deploy", {"model_id": model_id, "id": "task-1"}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["task_id"] == "task-1" == first.json()["task_id"]
    assert DeploymentTask.objects.count() == 1
    other = client.post("/delete", {"model_id": model_id, "id": "task-1"}, format="json")
    assert other.status_code == 409


def test_second_deployment_of_a_servable_is_refused_while_one_runs(client: APIClient, tmp_path: Path) -> None:
    v1 = register(client, tmp_path, 1.0, "1")
    v2 = register(client, tmp_path, 2.0, "2")
    first = client.post("/deploy", {"model_id": v1}, format="json").json()
    second = client.post("/deploy", {"model_id": v2}, format="json")
    assert second.status_code == 409
    assert second.json()["status"] == "refused"
    assert first["task_id"] in second.json()["detail"]
    deletion = client.post("/delete", {"model_id": v1}, format="json")
    assert deletion.status_code == 409 and deletion.json()["status"] == "refused"


def test_cancel_pending_then_cancel_again_is_409(client: APIClient, tmp_path: Path) -> None:
    model_id = register(client, tmp_path, 1.0, "1")
    task = client.post("/deploy", {"model_id": model_id}, format="json").json()
    canceled = client.post(f"/deploy/{task['task_id']}/cancel")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    again = client.post(f"/deploy/{task['task_id']}/cancel")
    assert again.status_code == 409
    runner.run(task["task_id"])  # a late delivery of the canceled task does nothing
    assert DeploymentTask.objects.get(pk=task["task_id"]).status == TaskStatus.CANCELED


def test_unknown_task_ids_are_404(client: APIClient) -> None:
    for path in ("/deploy/x", "/delete/x", "/deploy-status/x", "/delete-status/x"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "x" in response.json()["detail"]
    assert client.post("/deploy/x/cancel").status_code == 404


def test_runner_stages_switches_and_retires(client: APIClient, tmp_path: Path, settings) -> None:
    settings.INFERENCE_RECONCILE_SECONDS = 0.05
    v1 = register(client, tmp_path, 1.0, "1")
    v2 = register(client, tmp_path, 2.0, "2")
    first = client.post("/deploy", {"model_id": v1, "config": {"drain_seconds": 0}}, format="json").json()
    runner.run(first["task_id"])
    assert DeploymentTask.objects.get(pk=first["task_id"]).status == TaskStatus.DONE
    second = client.post("/deploy", {"model_id": v2, "config": {"drain_seconds": 0}}, format="json").json()
    runner.run(second["task_id"])
    task = DeploymentTask.objects.get(pk=second["task_id"])
    assert task.status == TaskStatus.DONE, task.detail
    assert task.metadata["previous"] == {"version": 1, "model_id": v1}
    servable = Servable.objects.get(name="const")
    assert servable.default_version == 2
    assert list(ServedVersion.objects.values_list("version", flat=True)) == [2]
    assert client.delete(f"/models/{v2}").status_code == 409  # served: the registry refuses to delete it


def test_a_task_whose_worker_died_ends_failed_and_its_staging_is_undone(
    client: APIClient, tmp_path: Path
) -> None:
    v1 = register(client, tmp_path, 1.0, "1")
    v2 = register(client, tmp_path, 2.0, "2")
    runner.run(
        client.post("/deploy", {"model_id": v1, "config": {"drain_seconds": 0}}, format="json").json()[
            "task_id"
        ]
    )
    task_id = client.post("/deploy", {"model_id": v2}, format="json").json()["task_id"]
    # What a worker killed after staging leaves behind: v2 added, v1 pinned, the task processing, no heartbeat.
    servable = Servable.objects.get(name="const")
    ServedVersion.objects.create(servable=servable, version=2, model_id=v2)
    Servable.objects.filter(pk=servable.pk).update(default_version=1)
    DeploymentTask.objects.filter(pk=task_id).update(
        status=TaskStatus.PROCESSING,
        heartbeat_at=timezone.now() - timedelta(minutes=5),
        metadata={
            "steps": [],
            "previous": {"version": 1, "model_id": v1},
            "new": {"servable": "const", "version": 2, "model_id": v2},
        },
    )
    task = client.get(f"/deploy/{task_id}").json()
    assert task["status"] == "failed" and "worker" in task["detail"]
    assert list(ServedVersion.objects.values_list("version", flat=True)) == [1]
