"""The defects an operator met in the admin and the browsable API (issue 14), each shown fixed."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from config.errors import describe_error
from inference.cache import MaterializeFailed
from registry.models import Model

pytestmark = pytest.mark.django_db


def test_model_list_offers_deploy_undeploy_and_download_actions(staff: Client, served: Model) -> None:
    response = staff.get("/admin/registry/model/")
    choices = dict(response.context["action_form"].fields["action"].choices)
    assert "deploy_models" in choices and "undeploy_models" in choices and "download_selected" in choices
    assert "Deploy selected models" in choices["deploy_models"]
    assert choices["undeploy_models"] == "Remove selected models from the inference service"


def test_deploy_action_creates_a_task_through_the_service(staff: Client, served: Model) -> None:
    from deployments.models import DeploymentTask

    response = staff.post(
        "/admin/registry/model/", {"action": "deploy_models", "_selected_action": [served.pk]}, follow=True
    )
    assert response.status_code == 200
    assert DeploymentTask.objects.filter(model_id=served.pk, kind="deploy").exists()


def test_registry_admin_class_is_not_patched_by_other_apps() -> None:
    from django.contrib import admin

    from registry.admin import ModelAdmin

    assert type(admin.site._registry[Model]) is ModelAdmin
    assert ModelAdmin.actions in (
        None,
        [],
        (),
    )  # contributions come from registry.admin_hooks, read per request


def test_lifecycle_column_says_served_for_a_model_the_api_calls_loaded(staff: Client, served: Model) -> None:
    api = APIClient().get(f"/model/{served.pk}").json()
    assert api["loaded"] is True
    html = staff.get("/admin/registry/model/").content.decode()
    assert "served as const:1" in html
    assert "not downloaded" not in html


def test_server_processes_are_named_in_proper_english(staff: Client) -> None:
    html = staff.get("/admin/").content.decode()
    assert "Server processes" in html
    assert "processs" not in html


def test_browsable_api_pages_have_real_titles() -> None:
    html = APIClient().get("/models", HTTP_ACCEPT="text/html").content.decode()
    assert "<title>Models" in html or "Models</h1>" in html
    assert "Model List Create Api" not in html


def test_every_api_view_has_a_title_without_the_class_suffix() -> None:
    from django.urls import get_resolver
    from rest_framework.views import APIView

    from config.view_names import view_name

    def walk(patterns):  # type: ignore[no-untyped-def]
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                yield from walk(pattern.url_patterns)
            else:
                yield pattern.callback

    classes = {getattr(cb, "cls", None) for cb in walk(get_resolver().url_patterns)} - {None}
    api_classes = [cls for cls in classes if issubclass(cls, APIView)]
    assert api_classes
    for cls in api_classes:
        title = view_name(cls())
        assert not title.endswith(("Api", "API", "View")), (cls, title)


def test_messages_for_people_do_not_show_exception_class_names() -> None:
    assert describe_error(MaterializeFailed("No model file in /x.")) == "No model file in /x."
    assert "KeyError" not in describe_error(KeyError("name"))
    assert describe_error(RuntimeError()) != ""


def test_runner_and_runtime_messages_use_describe_error() -> None:
    from pathlib import Path

    for path in (
        "deployments/runner.py",
        "inference/runtime.py",
        "inference/lifecycle/services.py",
        "geti/services.py",
    ):
        assert "type(exc).__name__" not in Path(path).read_text(), path


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ('{"a": 1}', "got a JSON object"),
        ('"cat"', "got the string 'cat'"),
        ("cat, dog", "got plain text 'cat, dog'"),
        ("3", "got the number 3"),
    ],
)
def test_bad_labels_say_what_is_expected(labels: str, expected: str, const_archive: bytes) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = APIClient().post(
        "/models",
        {"name": "x", "version": "1", "labels": labels, "file": SimpleUploadedFile("m.zip", const_archive)},
        format="multipart",
    )
    assert response.status_code == 422
    message = response.json()["detail"][0]["msg"]
    assert "Must be a JSON list" in message and expected in message, message
    assert "Invalid JSON" not in message


def test_admin_labels_given_as_a_json_object_say_a_list_is_expected(staff: Client, served: Model) -> None:
    response = staff.post(f"/admin/registry/model/{served.pk}/change/", {
        "name": "const", "version": "1", "precision": "FP32", "labels": '{"a": 1}', "overview": "",
        "optimization_capabilities": "", "format": "", "target_device": "", "target_device_type": "", "origin": "",
        "project_id": "", "project_name": "", "category": "", "architecture": "", "score": "",
        **_inline_management(),
    })  # fmt: skip
    html = response.content.decode()
    assert "Must be a JSON list" in html, html[-3000:]
    assert "Invalid JSON" not in html


def test_model_page_shows_signature_and_where_it_is_served(staff: Client, served: Model) -> None:
    html = staff.get(f"/admin/registry/model/{served.pk}/change/").content.decode()
    assert "console-signature" in html and "input" in html and "[1,4]" in html
    assert "Where it is served" in html and "const:1" in html and "AVAILABLE" in html


def _inline_management() -> dict[str, str]:
    data = {}
    for prefix in ("download_job", "geti_import"):
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": "0",
                f"{prefix}-INITIAL_FORMS": "0",
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "0",
            }
        )
    return data
