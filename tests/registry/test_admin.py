"""The operators' admin pages, driven by a logged-in superuser through the Django test client."""

import hashlib
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from registry.models import Model
from tests.registry.conftest import stored_files, zip_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(upload_tmp: Path) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


@pytest.fixture
def models(ir_archive: bytes) -> list[Model]:
    from registry import services
    from registry.artifacts import stage_archive

    created = []
    for model_id, name, version, precision, category in [
        ("a", "cat-resnet", "1", "FP32", "Classification"),
        ("b", "dog-yolo", "2", "INT8", "Detection"),
        ("c", "bird-unet", "3", "FP16", "Segmentation"),
    ]:
        fields = {
            "id": model_id,
            "name": name,
            "version": version,
            "precision": precision,
            "category": category,
        }
        created.append(services.model_create(fields=fields, archive=stage_archive([ir_archive])))
    return created


def add_form(archive: bytes, **fields: object) -> dict[str, object]:
    return {
        "archive": SimpleUploadedFile("model.zip", archive, content_type="application/zip"),
        "id": "", "name": "admin-model", "version": "1", "precision": ["FP16", "INT8"], "format": "",
        "target_device": "CPU", "target_device_type": "", "origin": "", "project_id": "", "project_name": "",
        "category": "Detection", "architecture": "", "score": "0.5", "labels": '["a", "b"]',
        "overview": '{"description": "x"}', "optimization_capabilities": "",
        **fields,
    }  # fmt: skip


def ids(response) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(obj.pk for obj in response.context["cl"].result_list)


def test_list_search_and_filters(admin: Client, models: list[Model]) -> None:
    response = admin.get("/admin/registry/model/")
    assert response.status_code == 200
    assert ids(response) == ["a", "b", "c"]
    assert b"/models/a/files" in response.content  # download links
    assert ids(admin.get("/admin/registry/model/", {"q": "yolo"})) == ["b"]
    assert ids(admin.get("/admin/registry/model/", {"q": "segment"})) == ["c"]
    assert ids(admin.get("/admin/registry/model/", {"category": "Detection"})) == ["b"]
    assert ids(admin.get("/admin/registry/model/", {"precision": "FP16"})) == ["c"]
    assert ids(admin.get("/admin/registry/model/", {"detected_format": "openvino"})) == ["a", "b", "c"]


def test_detail_page_shows_the_artifact(admin: Client, models: list[Model], ir_archive: bytes) -> None:
    response = admin.get("/admin/registry/model/a/change/")
    assert response.status_code == 200
    assert hashlib.sha256(ir_archive).hexdigest().encode() in response.content
    assert b'href="/models/a/files"' in response.content


def test_add_page_uploads_a_zip(
    admin: Client, ir_archive: bytes, artifacts_dir: Path, upload_tmp: Path
) -> None:
    assert admin.get("/admin/registry/model/add/").status_code == 200
    response = admin.post("/admin/registry/model/add/", add_form(ir_archive))
    assert response.status_code == 302, response.content.decode()[:3000]
    model = Model.objects.get(name="admin-model")
    assert model.precision == "FP16,INT8"
    assert model.labels == ["a", "b"] and model.overview == {"description": "x"} and model.score == 0.5
    assert model.sha256 == hashlib.sha256(ir_archive).hexdigest()
    assert model.detected_format == "openvino"
    assert len(model.id) == 32
    assert [p.read_bytes() for p in stored_files(artifacts_dir)] == [ir_archive]
    assert list(upload_tmp.iterdir()) == []


@pytest.mark.parametrize(
    ("archive", "fields", "message"),
    [
        (b"not a zip", {}, "not a valid ZIP"),
        (b"", {}, "The submitted file is empty."),
        (None, {"labels": "cat"}, "Enter a valid JSON."),
        (None, {"labels": '{"a": 1}'}, "Must be a JSON list"),
        (None, {"precision": ["FP64"]}, "Select a valid choice"),
        (None, {"id": "-bad id"}, "must match"),
        (None, {"name": ""}, "required"),
    ],
)
def test_add_page_refuses_bad_input_and_stores_nothing(
    admin: Client,
    ir_archive: bytes,
    artifacts_dir: Path,
    archive: bytes | None,
    fields: dict[str, str],
    message: str,
) -> None:
    response = admin.post(
        "/admin/registry/model/add/", add_form(ir_archive if archive is None else archive, **fields)
    )
    assert response.status_code == 200  # the form again, with the reason
    assert message in response.content.decode()
    assert Model.objects.count() == 0
    assert stored_files(artifacts_dir) == []


def test_add_page_refuses_a_zip_without_a_model_file_unless_it_is_a_plain_artifact(
    admin: Client, artifacts_dir: Path
) -> None:
    plain = zip_with({"README.md": b"notes"})
    response = admin.post("/admin/registry/model/add/", add_form(plain))
    assert response.status_code == 200 and "The ZIP holds no model file" in response.content.decode()
    assert Model.objects.count() == 0 and stored_files(artifacts_dir) == []
    response = admin.post("/admin/registry/model/add/", add_form(plain, artifact_only="on"))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Model.objects.get(name="admin-model").artifact_only is True


def test_add_page_refuses_a_duplicate_id(
    admin: Client, artifacts_dir: Path, models: list[Model], ir_archive: bytes
) -> None:
    response = admin.post("/admin/registry/model/add/", add_form(ir_archive, id="a"), follow=True)
    assert "Model with this Id already exists." in response.content.decode()
    assert Model.objects.count() == 3 and len(stored_files(artifacts_dir)) == 3


def change_form_data(page: Any) -> dict[str, Any]:
    """The change form as the browser would post it back, inline formsets (other apps' sections) included."""
    form = page.context["adminform"].form
    data = {name: form[name].value() if form[name].value() is not None else "" for name in form.fields}
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        data.update({management.add_prefix(name): management[name].value() for name in management.fields})
    return data


def test_change_page_updates_metadata(admin: Client, models: list[Model]) -> None:
    page = admin.get("/admin/registry/model/b/change/")
    data = change_form_data(page)
    data.update(
        {
            "category": "Tracking",
            "score": "0",
            "labels": '["x"]',
            "overview": "",
            "optimization_capabilities": "",
        }
    )
    response = admin.post("/admin/registry/model/b/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    model = Model.objects.get(pk="b")
    assert (model.category, model.score, model.labels, model.name) == ("Tracking", 0.0, ["x"], "dog-yolo")
    assert model.last_updated_date > models[1].last_updated_date


def test_change_page_refuses_bad_precision(admin: Client, models: list[Model]) -> None:
    page = admin.get("/admin/registry/model/b/change/")
    data = change_form_data(page)
    data["precision"] = "FP64"
    response = admin.post("/admin/registry/model/b/change/", data)
    assert response.status_code == 200
    assert "FP64 is not a supported precision" in response.content.decode()
    assert Model.objects.get(pk="b").precision == "INT8"


def test_delete_removes_row_and_file(
    admin: Client, artifacts_dir: Path, models: list[Model], django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    assert admin.get("/admin/registry/model/a/delete/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post("/admin/registry/model/a/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Model.objects.filter(pk="a").exists()
    assert len(stored_files(artifacts_dir)) == 2


def test_bulk_delete_removes_rows_and_files(
    admin: Client, artifacts_dir: Path, models: list[Model], django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            "/admin/registry/model/",
            {"action": "delete_selected", "_selected_action": ["a", "c"], "post": "yes"},
        )
    assert response.status_code == 302
    assert list(Model.objects.values_list("pk", flat=True)) == ["b"]
    assert len(stored_files(artifacts_dir)) == 1
