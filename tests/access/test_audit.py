"""Audit events are written by the services, with who asked: the key, the user, anonymous or system."""

import io
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from access.keys import key_create
from access.models import AuditEvent
from deployments.models import DeploymentTask
from tests.modelfiles import build_constant_model, ir_zip

pytestmark = pytest.mark.django_db


def register(client: APIClient, tmp_path: Path, **headers: str) -> str:
    archive = ir_zip(build_constant_model(1.0), tmp_path)
    response = client.post(
        "/models",
        {"file": SimpleUploadedFile("m.zip", archive), "name": "audited", "version": "1"},
        format="multipart",
        **headers,
    )
    assert response.status_code == 201, response.content
    return response.content.decode()


def actions() -> list[tuple[str, str, str, str]]:
    return [
        (event.who, event.action, event.object_type, event.object_id)
        for event in AuditEvent.objects.order_by("created_at", "id")
    ]


def test_a_keys_actions_are_recorded_under_its_name_and_the_task_shows_who_asked(auth_mode, tmp_path) -> None:
    auth_mode("writes")
    key = key_create(name="ci-deployer", scopes=["write", "deploy"]).secret
    client = APIClient()
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {key}", "HTTP_X_REQUEST_ID": "req-42"}
    model_id = register(client, tmp_path, **bearer)
    assert (
        client.put(f"/models/{model_id}", {"name": "audited-renamed"}, format="json", **bearer).status_code
        == 200
    )
    deploy = client.post("/deploy", {"model_id": model_id}, format="json", **bearer)
    assert deploy.status_code in (201, 202), deploy.content
    task_id = deploy.json()["task_id"]
    assert DeploymentTask.objects.get(pk=task_id).requested_by == "ci-deployer"
    assert client.get(f"/deploy/{task_id}").json()["metadata"]["requested_by"] == "ci-deployer"
    assert actions() == [
        ("ci-deployer", "register", "model", model_id),
        ("ci-deployer", "update", "model", model_id),
        ("ci-deployer", "deploy", "model", model_id),
    ]
    assert set(AuditEvent.objects.values_list("request_id", flat=True)) == {"req-42"}
    assert set(AuditEvent.objects.values_list("who_kind", flat=True)) == {"key"}


def test_without_keys_the_caller_is_anonymous_and_commands_are_system(auth_mode, tmp_path) -> None:
    auth_mode("off")
    model_id = register(APIClient(), tmp_path)
    call_command("create_api_key", "x", "--scopes", "read", stdout=io.StringIO(), stderr=io.StringIO())
    from registry import services

    services.model_delete(model_id=model_id)  # what a management command or a worker does
    assert actions() == [
        ("anonymous", "register", "model", model_id),
        ("system", "delete", "model", model_id),
    ]


def test_an_admin_user_acts_through_the_session_with_csrf_and_is_recorded_by_name(
    auth_mode, tmp_path
) -> None:
    auth_mode("writes")
    writer = key_create(name="w", scopes=["write"]).secret
    model_id = register(APIClient(), tmp_path, HTTP_AUTHORIZATION=f"Bearer {writer}")
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    assert client.delete(f"/models/{model_id}").status_code == 403  # session login keeps CSRF
    client.get("/admin/")
    token = client.cookies["csrftoken"].value
    response = client.delete(f"/models/{model_id}", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 204, response.content
    assert actions()[-1] == ("root", "delete", "model", model_id)
    staff = User.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get("/models").status_code == 200
    refused = client.delete(f"/models/{model_id}", HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    assert refused.status_code == 403 and "'write'" in refused.json()["detail"]


def test_audit_admin_lists_and_filters(tmp_path) -> None:
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    AuditEvent.objects.create(
        who="ci", who_kind="key", action="deploy", object_type="model", object_id="model-one"
    )
    AuditEvent.objects.create(
        who="root", who_kind="user", action="delete", object_type="model", object_id="model-two"
    )
    client = Client()
    client.force_login(admin)
    page = client.get("/admin/access/auditevent/?action__exact=deploy").content.decode()
    assert "model-one" in page and "model-two" not in page
    assert client.get("/admin/access/auditevent/add/").status_code == 403
