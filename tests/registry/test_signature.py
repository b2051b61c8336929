"""Model signatures read with OpenVINO at registration: stored, returned by the API, never failing an upload."""

import tempfile
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from registry import services
from registry.artifacts import stage_archive
from registry.models import Model
from registry.signature import signature_from_archive
from tests.modelfiles import build_constant_model, build_two_io_model, ir_zip, save_ir
from tests.registry.conftest import zip_with

pytestmark = pytest.mark.django_db


def test_ir_signature_has_names_shapes_and_element_types(
    api: APIClient, ir_archive: bytes, upload_tmp: Path
) -> None:
    response = api.post(
        "/models", {"name": "const", "version": "1", "file": _upload(ir_archive)}, format="multipart"
    )
    assert response.status_code == 201, response.content
    body = api.get(f"/models/{response.content.decode()}").json()
    assert body["signature"]["format"] == "openvino"
    [port] = body["signature"]["inputs"]
    assert (port["name"], port["shape"], port["element_type"]) == ("input", [1, 4], "f32")
    assert len(body["signature"]["outputs"]) == 1
    assert list(upload_tmp.iterdir()) == []  # the unpacked files are gone


def test_onnx_signature_keeps_dynamic_dimensions(onnx_archive: bytes) -> None:
    signature = signature_from_archive(_file(onnx_archive))
    assert signature is not None and signature["format"] == "onnx"
    shapes = [port["shape"] for port in signature["inputs"]]
    assert any(-1 in shape for shape in shapes), signature
    assert "?" in signature["inputs"][0]["partial_shape"]


def test_two_inputs_and_outputs_are_listed(tmp_path: Path) -> None:
    signature = signature_from_archive(_file(ir_zip(build_two_io_model(), tmp_path)))
    assert signature is not None
    assert len(signature["inputs"]) == 2 and len(signature["outputs"]) == 2


def test_unreadable_model_file_registers_without_signature(api: APIClient) -> None:
    archive = zip_with({"model.onnx": b"not an onnx graph"})
    response = api.post(
        "/models", {"name": "broken", "version": "1", "file": _upload(archive)}, format="multipart"
    )
    assert response.status_code == 201, response.content
    assert api.get(f"/models/{response.content.decode()}").json()["signature"] is None


def test_command_fills_signatures_of_models_stored_before(ir_archive: bytes) -> None:
    model = services.model_create(
        fields={"id": "old", "name": "old", "version": "1"}, archive=stage_archive([ir_archive])
    )
    Model.objects.filter(pk=model.pk).update(signature=None)
    call_command("registry_signatures")
    assert Model.objects.get(pk="old").signature["inputs"][0]["name"] == "input"


def test_signature_is_in_the_openapi_schema(api: APIClient) -> None:
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    model_out = schema["components"]["schemas"]["ModelOut"]["properties"]
    assert "signature" in model_out


def _upload(data: bytes):  # type: ignore[no-untyped-def]
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("m.zip", data, content_type="application/zip")


def _file(data: bytes):  # type: ignore[no-untyped-def]
    import io

    return io.BytesIO(data)


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_ir_reads_alike_stored_or_compressed(tmp_path: Path, compression: int) -> None:
    archive = _ir_archive_file(tmp_path, compression)
    signature = signature_from_archive(archive)
    assert signature is not None
    assert [(p["name"], p["shape"]) for p in signature["inputs"]] == [("input", [1, 4])]


def test_ir_stored_uncompressed_is_read_without_unpacking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _ir_archive_file(tmp_path, zipfile.ZIP_STORED)

    def no_unpacking(*args: object, **kwargs: object) -> str:
        raise AssertionError("unpacked")

    monkeypatch.setattr(tempfile, "mkdtemp", no_unpacking)
    assert signature_from_archive(archive) is not None


def _ir_archive_file(tmp_path: Path, compression: int) -> Path:
    xml = save_ir(build_constant_model(1.0), tmp_path / "ir")
    archive = tmp_path / f"m{compression}.zip"
    with zipfile.ZipFile(archive, "w", compression) as zf:
        zf.writestr("readme.txt", "padding before the model, so offsets are not zero")
        zf.write(xml, "nested/model.xml")
        zf.write(xml.with_suffix(".bin"), "nested/model.bin")
    return archive
