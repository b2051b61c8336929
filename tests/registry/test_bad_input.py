"""Bad input for every field of every endpoint: a 422 in the spec's shape, and nothing stored afterwards."""

import io
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from registry.models import Model
from tests.registry.conftest import empty_zip, stored_files, zip_with

pytestmark = pytest.mark.django_db


def post(api: APIClient, fields: dict[str, object], archive: bytes | None):  # type: ignore[no-untyped-def]
    data = dict(fields)
    if archive is not None:
        data["file"] = SimpleUploadedFile("model.zip", archive, content_type="application/zip")
    return api.post("/models", data, format="multipart")


def assert_422(response, loc: list[object] | None = None, contains: str = "") -> dict[str, object]:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.content
    body = response.json()
    assert set(body) == {"detail"} and body["detail"], body
    for error in body["detail"]:
        assert set(error) == {"loc", "msg", "type"}
        assert (
            isinstance(error["loc"], list)
            and isinstance(error["msg"], str)
            and isinstance(error["type"], str)
        )
    if loc is not None:
        assert loc in [error["loc"] for error in body["detail"]], body
    if contains:
        assert any(contains in error["msg"] for error in body["detail"]), body
    return body


@pytest.fixture
def nothing_stored(artifacts_dir: Path, upload_tmp: Path):  # type: ignore[no-untyped-def]
    yield
    assert Model.objects.count() == 0
    assert stored_files(artifacts_dir) == []
    assert list(upload_tmp.iterdir()) == []


LONG = "x" * 256
VALID = {"name": "resnet", "version": "1"}


@pytest.mark.parametrize(
    ("fields", "loc", "contains"),
    [
        ({"version": "1"}, ["body", "name"], "required"),
        ({"name": "resnet"}, ["body", "version"], "required"),
        ({**VALID, "name": ""}, ["body", "name"], "blank"),
        ({**VALID, "name": "   "}, ["body", "name"], "blank"),
        ({**VALID, "name": LONG}, ["body", "name"], "255"),
        ({**VALID, "version": ""}, ["body", "version"], "blank"),
        ({**VALID, "version": "v" * 65}, ["body", "version"], "64"),
        ({**VALID, "id": ""}, ["body", "id"], ""),
        ({**VALID, "id": "-starts-with-dash"}, ["body", "id"], "must match"),
        ({**VALID, "id": "has space"}, ["body", "id"], "must match"),
        ({**VALID, "id": "slash/inside"}, ["body", "id"], "must match"),
        ({**VALID, "id": "ü-non-ascii"}, ["body", "id"], "must match"),
        ({**VALID, "id": "a" * 129}, ["body", "id"], ""),
        ({**VALID, "precision": "FP64"}, ["body", "precision"], "FP64 is not a supported precision"),
        ({**VALID, "precision": ""}, ["body", "precision"], "empty"),
        ({**VALID, "precision": "[1, 2]"}, ["body", "precision"], "list of strings"),
        ({**VALID, "precision": '["FP16"'}, ["body", "precision"], "Invalid JSON"),
        ({**VALID, "precision": "[]"}, ["body", "precision"], "empty"),
        ({**VALID, "score": "high"}, ["body", "score"], "number"),
        ({**VALID, "score": "nan"}, ["body", "score"], "number"),
        ({**VALID, "score": "inf"}, ["body", "score"], ""),
        ({**VALID, "size": "-1"}, ["body", "size"], ""),
        ({**VALID, "size": "big"}, ["body", "size"], "integer"),
        ({**VALID, "created_date": "yesterday"}, ["body", "created_date"], "format"),
        ({**VALID, "created_date": "2024-13-45"}, ["body", "created_date"], ""),
        ({**VALID, "labels": "cat, dog"}, ["body", "labels"], "Invalid JSON"),
        ({**VALID, "labels": '{"cat": 1}'}, ["body", "labels"], "JSON list"),
        ({**VALID, "labels": "7"}, ["body", "labels"], "JSON list"),
        ({**VALID, "overview": '{"description": '}, ["body", "overview"], "Invalid JSON"),
        ({**VALID, "overview": "[1, 2]"}, ["body", "overview"], "not a JSON list"),
        (
            {**VALID, "optimization_capabilities": "{oops}"},
            ["body", "optimization_capabilities"],
            "Invalid JSON",
        ),
        ({**VALID, "target_device": LONG}, ["body", "target_device"], "255"),
        ({**VALID, "target_device_type": LONG}, ["body", "target_device_type"], ""),
        ({**VALID, "format": "f" * 65}, ["body", "format"], ""),
        ({**VALID, "origin": LONG}, ["body", "origin"], ""),
        ({**VALID, "project_id": LONG}, ["body", "project_id"], ""),
        ({**VALID, "project_name": LONG}, ["body", "project_name"], ""),
        ({**VALID, "category": LONG}, ["body", "category"], ""),
        ({**VALID, "architecture": LONG}, ["body", "architecture"], ""),
        ({**VALID, "name": "nul\x00byte"}, ["body", "name"], "Null"),
        ({**VALID, "colour": "red"}, ["body"], "Unsupported key(s) found: colour"),
        ({**VALID, "colour": "red", "Name": "x"}, ["body"], "Unsupported key(s) found: Name, colour"),
        ({**VALID, "sha256": "0" * 64}, ["body", "sha256"], "computed"),
        ({**VALID, "source_url": "not a url"}, ["body", "source_url"], "URL"),
    ],
)
def test_post_bad_field_is_422_and_stores_nothing(
    api: APIClient,
    ir_archive: bytes,
    nothing_stored: None,
    fields: dict[str, str],
    loc: list[str],
    contains: str,
) -> None:
    assert_422(post(api, fields, ir_archive), loc, contains)


def _zip_bytes(entries: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries:
            archive.writestr(zipfile.ZipInfo(name), content)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("archive", "contains"),
    [
        (b"", "not a valid ZIP"),
        (b"just some text, not a zip", "not a valid ZIP"),
        (b"PK\x03\x04" + b"\x00" * 100, "not a valid ZIP"),
        (empty_zip(), "empty"),
        (_zip_bytes([("folder/", b"")]), "empty"),
        (_zip_bytes([("model.xml", b"<x/>"), ("../evil.sh", b"rm -rf /")]), "unsafe path: '../evil.sh'"),
        (_zip_bytes([("a/../../evil", b"x")]), "unsafe path"),
        (_zip_bytes([("/etc/cron.d/evil", b"x")]), "unsafe path"),
        (_zip_bytes([("C:/windows/evil.dll", b"x")]), "unsafe path"),
        (_zip_bytes([("..\\evil.dll", b"x")]), "unsafe path"),
    ],
)
def test_post_bad_archive_is_422_and_stores_nothing(
    api: APIClient, nothing_stored: None, archive: bytes, contains: str
) -> None:
    assert_422(post(api, VALID, archive), ["body", "file"], contains)


def test_truncated_zip_is_422(api: APIClient, ir_archive: bytes, nothing_stored: None) -> None:
    assert_422(post(api, VALID, ir_archive[: len(ir_archive) // 2]), ["body", "file"], "ZIP")


def test_too_many_entries_is_422(api: APIClient, settings, nothing_stored: None) -> None:  # type: ignore[no-untyped-def]
    settings.REGISTRY_ZIP_MAX_ENTRIES = 3
    archive = zip_with({f"part{i}.bin": b"x" for i in range(4)})
    assert_422(post(api, VALID, archive), ["body", "file"], "has 4 entries; the limit is 3")


def test_too_large_uncompressed_is_422(api: APIClient, settings, nothing_stored: None) -> None:  # type: ignore[no-untyped-def]
    settings.REGISTRY_ZIP_MAX_UNCOMPRESSED_BYTES = 1000
    archive = zip_with({"model.onnx": b"\x00" * 1001})  # a bomb in miniature: deflated to a few bytes
    assert len(archive) < 1001
    assert_422(post(api, VALID, archive), ["body", "file"], "unpacks to 1001 bytes; the limit is 1000")


def test_post_without_file_is_422(api: APIClient, nothing_stored: None) -> None:
    assert_422(post(api, VALID, None), ["body", "file"], "Field required")


def test_post_with_file_as_text_is_422(api: APIClient, nothing_stored: None) -> None:
    assert_422(
        api.post("/models", {**VALID, "file": "model.zip"}, format="multipart"),
        ["body", "file"],
        "file upload",
    )


def test_post_json_is_422_no_file(api: APIClient, nothing_stored: None) -> None:
    assert_422(api.post("/models", VALID, format="json"), ["body", "file"])


def test_post_with_an_unsupported_content_type_is_415(api: APIClient, nothing_stored: None) -> None:
    response = api.generic("POST", "/models", b"name=x", content_type="text/csv")
    assert response.status_code == 415


def test_every_error_is_reported_at_once(api: APIClient, ir_archive: bytes, nothing_stored: None) -> None:
    body = assert_422(post(api, {"name": "", "version": "", "score": "x"}, ir_archive))
    assert {tuple(error["loc"]) for error in body["detail"]} >= {
        ("body", "name"),
        ("body", "version"),
        ("body", "score"),
    }


# --- PUT ------------------------------------------------------------------------------------------------


@pytest.fixture
def existing(api: APIClient, ir_archive: bytes) -> str:
    response = post(api, {**VALID, "id": "e"}, ir_archive)
    assert response.status_code == 201
    return "e"


@pytest.mark.parametrize(
    ("body", "loc", "contains"),
    [
        ({"name": ""}, ["body", "name"], "blank"),
        ({"name": None}, ["body", "name"], "null"),
        ({"name": ["a"]}, ["body", "name"], "valid string"),
        ({"name": {"a": 1}}, ["body", "name"], "valid string"),
        ({"version": True}, ["body", "version"], "valid string"),
        ({"name": LONG}, ["body", "name"], "255"),
        ({"category": LONG}, ["body", "category"], "255"),
        ({"score": "high"}, ["body", "score"], "number"),
        ({"score": True}, ["body", "score"], ""),
        ({"score": [1]}, ["body", "score"], ""),
        ({"precision": "fp8"}, ["body", "precision"], "FP8 is not a supported precision"),
        ({"precision": 16}, ["body", "precision"], "string or a list"),
        ({"precision": ["FP16", 8]}, ["body", "precision"], "string or a list"),
        ({"labels": "cat"}, ["body", "labels"], "Invalid JSON"),
        ({"labels": {"cat": 1}}, ["body", "labels"], "JSON list"),
        ({"labels": 3}, ["body", "labels"], "JSON list"),
        ({"overview": 5}, ["body", "overview"], "JSON object or text"),
        ({"overview": ["a"]}, ["body", "overview"], "JSON object or text"),
        ({"optimization_capabilities": True}, ["body", "optimization_capabilities"], ""),
        ({"created_date": "not a date"}, ["body", "created_date"], ""),
        ({"created_date": 12}, ["body", "created_date"], ""),
        ({"size": -5}, ["body", "size"], ""),
        ({"colour": "red", "name": "x"}, ["body"], "Unsupported key(s) found: colour"),
    ],
)
def test_put_bad_field_is_422_and_changes_nothing(
    api: APIClient, existing: str, body: dict[str, object], loc: list[str], contains: str
) -> None:
    before = api.get(f"/models/{existing}").json()
    assert_422(api.put(f"/models/{existing}", body, format="json"), loc, contains)
    assert api.get(f"/models/{existing}").json() == before


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"[1, 2]", "application/json"),
        (b'"text"', "application/json"),
        (b"{not json", "application/json"),
        (b"null", "application/json"),
    ],
)
def test_put_body_that_is_not_an_object_is_422(
    api: APIClient, existing: str, raw: bytes, content_type: str
) -> None:
    assert_422(api.generic("PUT", f"/models/{existing}", raw, content_type=content_type), ["body"])


def test_put_form_with_bad_fields_is_422(api: APIClient, existing: str) -> None:
    assert_422(
        api.put(f"/models/{existing}", {"labels": "{", "precision": "fp9"}, format="multipart"),
        ["body", "labels"],
    )
