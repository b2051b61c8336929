"""The registry endpoints as the spec and DESIGN.md section 3 describe them, with real ZIPs and real storage."""

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from registry.models import Model
from tests.registry.conftest import stored_files

pytestmark = pytest.mark.django_db


def upload(api: APIClient, archive: bytes | None, **fields: object):  # type: ignore[no-untyped-def]
    data: dict[str, object] = {"name": "resnet", "version": "1", **fields}
    if archive is not None:
        data["file"] = SimpleUploadedFile("model.zip", archive, content_type="application/zip")
    return api.post("/models", data, format="multipart")


def test_health(api: APIClient) -> None:
    response = api.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_upload_answers_201_with_the_id_as_text_and_a_location(
    api: APIClient, ir_archive: bytes, artifacts_dir: Path
) -> None:
    response = upload(api, ir_archive, id="resnet-1.fp32_a")
    assert response.status_code == 201
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"resnet-1.fp32_a"
    assert response["Location"] == "http://testserver/models/resnet-1.fp32_a"
    model = Model.objects.get(pk="resnet-1.fp32_a")
    assert model.sha256 == hashlib.sha256(ir_archive).hexdigest()
    assert model.size == len(ir_archive)
    assert [path.read_bytes() for path in stored_files(artifacts_dir)] == [ir_archive]


def test_upload_without_id_generates_a_uuid4_hex(api: APIClient, onnx_archive: bytes) -> None:
    response = upload(api, onnx_archive)
    assert response.status_code == 201
    model_id = response.content.decode()
    assert len(model_id) == 32 and int(model_id, 16) >= 0
    body = api.get(f"/models/{model_id}").json()
    assert body["detected_format"] == "onnx"
    assert body["format"] == "onnx"


def test_get_returns_every_spec_field(api: APIClient, ir_archive: bytes) -> None:
    fields = {
        "id": "m1", "target_device": "CPU", "precision": '["fp16", "INT8"]', "format": "openvino", "score": "0.93",
        "created_date": "2024-02-28 15:39:07.054000", "size": "5", "origin": "upload", "project_id": "p1",
        "project_name": "Cats", "category": "Classification", "target_device_type": "edge",
        "overview": '{"description": "cats"}', "optimization_capabilities": "int8 quantized",
        "labels": '["cat", "dog"]', "architecture": "ResNet-50",
    }  # fmt: skip
    assert upload(api, ir_archive, **fields).status_code == 201
    body = api.get("/models/m1").json()
    assert body["precision"] == ["FP16", "INT8"]
    assert body["score"] == 0.93
    assert body["size"] == len(ir_archive)  # measured, the client's size is ignored
    assert body["created_date"] == "2024-02-28T15:39:07.054000Z"
    assert body["overview"] == {"description": "cats"}
    assert body["optimization_capabilities"] == "int8 quantized"
    assert body["labels"] == ["cat", "dog"]
    assert body["file_url"] == "http://testserver/models/m1/files"
    assert body["detected_format"] == "openvino"
    assert body["sha256"] == hashlib.sha256(ir_archive).hexdigest()
    for key in (
        "id",
        "name",
        "version",
        "target_device",
        "project_id",
        "project_name",
        "category",
        "target_device_type",
        "architecture",
        "origin",
        "format",
        "last_updated_date",
    ):
        assert key in body
    assert set(fields) - {"size"} <= set(body)


def test_created_date_defaults_to_now_in_utc(api: APIClient, ir_archive: bytes) -> None:
    before = datetime.now(UTC)
    upload(api, ir_archive, id="now")
    body = api.get("/models/now").json()
    created = datetime.fromisoformat(body["created_date"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= created <= datetime.now(UTC)
    assert body["precision"] == ["FP32"]


def test_duplicate_id_is_409_with_the_spec_text(
    api: APIClient, ir_archive: bytes, artifacts_dir: Path, upload_tmp: Path
) -> None:
    assert upload(api, ir_archive, id="dup").status_code == 201
    response = upload(api, ir_archive, id="dup", name="other")
    assert response.status_code == 409
    assert response.content == b"Model ID dup is already in use."
    assert response["Content-Type"].startswith("text/plain")
    assert len(stored_files(artifacts_dir)) == 1
    assert list(upload_tmp.iterdir()) == []


def test_same_name_version_precision_project_is_409(
    api: APIClient, ir_archive: bytes, artifacts_dir: Path
) -> None:
    assert upload(api, ir_archive, id="a", precision="FP16").status_code == 201
    response = upload(api, ir_archive, id="b", precision="fp16")
    assert response.status_code == 409
    assert "already registered with ID a" in response.content.decode()
    assert upload(api, ir_archive, id="c", precision="FP32").status_code == 201
    assert upload(api, ir_archive, id="d", precision="FP16", project_id="other").status_code == 201
    assert len(stored_files(artifacts_dir)) == 3


# --- Listing -------------------------------------------------------------------------------------------


@pytest.fixture
def catalogue(api: APIClient, ir_archive: bytes) -> None:
    rows = [
        ("cat-resnet", "1", "FP32", "Cats", "Classification", "ResNet-50"),
        ("cat-resnet", "2", "FP16,INT8", "Cats", "Classification", "ResNet-50"),
        ("dog-yolo", "1", "INT8", "Dogs", "Detection", "YOLOX"),
        ("Dog-Seg", "10", "FP16", "Dogs", "Segmentation", "UNet"),
    ]
    for index, (name, version, precision, project, category, arch) in enumerate(rows):
        response = upload(
            api, ir_archive, id=f"m{index}", name=name, version=version, precision=precision,
            project_name=project, category=category, architecture=arch,
        )  # fmt: skip
        assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["m0", "m1", "m2", "m3"]),
        ({"name": "DOG"}, ["m2", "m3"]),
        ({"name": "cat", "version": "2"}, ["m1"]),
        ({"version": "1"}, ["m0", "m2"]),  # exact: "10" does not match
        ({"project_name": "dOgS"}, ["m2", "m3"]),
        ({"category": "detect"}, ["m2"]),
        ({"architecture": "resnet"}, ["m0", "m1"]),
        ({"precision": "int8"}, ["m1", "m2"]),
        ({"precision": "fp16", "project_name": "dogs"}, ["m3"]),
        ({"name": "nothing"}, []),
        ({"limit": "2"}, ["m0", "m1"]),
        ({"limit": "2", "offset": "3"}, ["m3"]),
        ({"offset": "1"}, ["m1", "m2", "m3"]),
    ],
)
def test_list_filters_are_anded(
    api: APIClient, catalogue: None, query: dict[str, str], expected: list[str]
) -> None:
    response = api.get("/models", query)
    assert response.status_code == 200
    assert [row["id"] for row in response.json()] == expected


def test_paginated_list_tells_the_total(api: APIClient, catalogue: None) -> None:
    response = api.get("/models", {"limit": "1", "name": "cat"})
    assert response["X-Total-Count"] == "2"


def test_list_returns_every_model_without_a_cap(api: APIClient, ir_archive: bytes) -> None:
    Model.objects.bulk_create(Model(id=f"bulk{i}", name="bulk", version=str(i)) for i in range(1500))
    assert len(api.get("/models").json()) == 1500


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ({"nme": "x"}, ["query", "nme"]),
        ({"limit": "0"}, ["query", "limit"]),
        ({"limit": "ten"}, ["query", "limit"]),
        ({"offset": "-1"}, ["query", "offset"]),
    ],
)
def test_bad_query_parameters_are_422(api: APIClient, query: dict[str, str], loc: list[str]) -> None:
    response = api.get("/models", query)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == loc
    assert error["msg"] and error["type"]


# --- Update --------------------------------------------------------------------------------------------


def test_update_by_json_form_and_multipart(api: APIClient, ir_archive: bytes) -> None:
    upload(api, ir_archive, id="u", score="0.5")
    before = api.get("/models/u").json()
    assert api.put("/models/u", {"score": 0}, format="json").json() == {"status": "completed"}
    assert api.put("/models/u", {"labels": '["a"]', "precision": "int4"}, format="multipart").json() == {
        "status": "completed"
    }
    response = api.generic(
        "PUT", "/models/u", "category=Detection", content_type="application/x-www-form-urlencoded"
    )
    assert response.json() == {"status": "completed"}
    after = api.get("/models/u").json()
    assert after["score"] == 0
    assert after["labels"] == ["a"]
    assert after["precision"] == ["INT4"]
    assert after["category"] == "Detection"
    assert after["last_updated_date"] > before["last_updated_date"]
    assert after["created_date"] == before["created_date"]


def test_update_unknown_model_is_404_json(api: APIClient) -> None:
    response = api.put("/models/missing", {"score": 1}, format="json")
    assert response.status_code == 404
    assert response.json() == {"status": "error", "message": "Model not found."}


@pytest.mark.parametrize(
    "body",
    [{}, {"id": "new"}, {"file": "x"}, {"name": "n", "id": "new"}, {"colour": "red"}, {"a": 1, "B": "2"}],
)
def test_update_of_nothing_supported_or_of_file_or_id_is_400(
    api: APIClient, ir_archive: bytes, body: dict[str, str]
) -> None:
    upload(api, ir_archive, id="u")
    response = api.put("/models/u", body, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "status": "error",
        "message": "Invalid request. Check the request body and ensure at least 1 supported field is provided.",
    }


def test_update_with_a_file_upload_is_400(api: APIClient, ir_archive: bytes) -> None:
    upload(api, ir_archive, id="u")
    response = api.put("/models/u", {"file": SimpleUploadedFile("m.zip", ir_archive)}, format="multipart")
    assert response.status_code == 400


def test_update_into_an_existing_identity_is_409(api: APIClient, ir_archive: bytes) -> None:
    upload(api, ir_archive, id="a", version="1")
    upload(api, ir_archive, id="b", version="2")
    response = api.put("/models/b", {"version": "1"}, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "status": "error",
        "message": "Model resnet version 1 (FP32) is already registered with ID a.",
    }
    assert api.get("/models/b").json()["version"] == "2"


def test_update_cannot_rewrite_the_hash_of_a_stored_file(api: APIClient, ir_archive: bytes) -> None:
    upload(api, ir_archive, id="u")
    response = api.put("/models/u", {"sha256": "0" * 64}, format="json")
    assert response.status_code == 422
    assert api.get("/models/u").json()["sha256"] == hashlib.sha256(ir_archive).hexdigest()


# --- Delete and files ----------------------------------------------------------------------------------


def test_delete_removes_row_and_file(
    api: APIClient, ir_archive: bytes, artifacts_dir: Path, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    upload(api, ir_archive, id="d")
    assert len(stored_files(artifacts_dir)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete("/models/d")
    assert response.status_code == 204
    assert response.content == b""
    assert stored_files(artifacts_dir) == []
    assert not Model.objects.filter(pk="d").exists()
    again = api.delete("/models/d")
    assert again.status_code == 404
    assert again.content == b"Model not found."


@pytest.mark.parametrize(("method", "suffix"), [("get", ""), ("delete", ""), ("get", "/files")])
def test_unknown_model_is_404_plain_text(api: APIClient, method: str, suffix: str) -> None:
    response = getattr(api, method)(f"/models/nope{suffix}")
    assert response.status_code == 404
    assert response.content == b"Model not found."
    assert response["Content-Type"].startswith("text/plain")


BAD_IDS = ["/models/-bad", "/models/bad%20id", "/models/" + "x" * 129]


@pytest.mark.parametrize(
    ("method", "path"),
    [(method, path) for path in BAD_IDS for method in ("get", "put", "delete")]
    + [("get", "/models/-bad/files")],
)
def test_ids_not_matching_the_pattern_are_422(api: APIClient, path: str, method: str) -> None:
    response = (
        getattr(api, method)(path, {"score": 1}, format="json")
        if method == "put"
        else getattr(api, method)(path)
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["path", "model_id"]


def test_download_streams_the_zip_with_a_file_name(api: APIClient, ir_archive: bytes) -> None:
    upload(api, ir_archive, id="f", name="my model", version="3")
    response = api.get("/models/f/files")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Length"] == str(len(ir_archive))
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Disposition"] == 'attachment; filename="my model-3.zip"'
    assert b"".join(response.streaming_content) == ir_archive


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=10-19", 10, 19),
        ("bytes=100-", 100, None),
        ("bytes=-50", -50, None),
        ("bytes=5-999999999", 5, None),
    ],
)
def test_download_range_is_206(
    api: APIClient, ir_archive: bytes, header: str, start: int, end: int | None
) -> None:
    upload(api, ir_archive, id="r")
    response = api.get("/models/r/files", HTTP_RANGE=header)
    expected = ir_archive[start : None if end is None else end + 1]
    assert response.status_code == 206
    assert b"".join(response.streaming_content) == expected
    first = start if start >= 0 else len(ir_archive) + start
    assert response["Content-Range"] == f"bytes {first}-{first + len(expected) - 1}/{len(ir_archive)}"
    assert response["Content-Length"] == str(len(expected))


@pytest.mark.parametrize("header", ["bytes=999999-", "bytes=-0", "bytes=20-10"])
def test_unsatisfiable_range_is_416(api: APIClient, ir_archive: bytes, header: str) -> None:
    upload(api, ir_archive, id="r")
    response = api.get("/models/r/files", HTTP_RANGE=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(ir_archive)}"


def test_malformed_range_is_ignored(api: APIClient, ir_archive: bytes) -> None:
    upload(api, ir_archive, id="r")
    response = api.get("/models/r/files", HTTP_RANGE="lines=1-2")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == ir_archive


def test_download_of_a_file_missing_from_storage_is_404(
    api: APIClient, ir_archive: bytes, artifacts_dir: Path
) -> None:
    upload(api, ir_archive, id="gone")
    for path in stored_files(artifacts_dir):
        path.unlink()
    response = api.get("/models/gone/files")
    assert response.status_code == 404
    assert "registry_fsck" in response.content.decode()


def test_delete_of_a_model_in_use_is_409_and_keeps_everything(
    api: APIClient, ir_archive: bytes, artifacts_dir: Path
) -> None:
    from registry.services import ModelInUse, model_delete_requested

    def refuse(sender: object, model: Model, **kwargs: object) -> None:
        raise ModelInUse(f"Model {model.id} is being served as {model.name}; unload it first.")

    upload(api, ir_archive, id="busy")
    model_delete_requested.connect(refuse)
    try:
        response = api.delete("/models/busy")
    finally:
        model_delete_requested.disconnect(refuse)
    assert response.status_code == 409
    assert response.content == b"Model busy is being served as resnet; unload it first."
    assert Model.objects.filter(pk="busy").exists()
    assert len(stored_files(artifacts_dir)) == 1
