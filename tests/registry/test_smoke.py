import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from tests.modelfiles import build_constant_model, ir_zip

pytestmark = pytest.mark.django_db


def test_upload_list_get_update_download_delete(tmp_path):
    client = APIClient()
    archive = ir_zip(build_constant_model(1.0), tmp_path)
    response = client.post(
        "/models",
        {
            "file": SimpleUploadedFile("m.zip", archive, content_type="application/zip"),
            "name": "const",
            "version": "1",
            "precision": "fp16",
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    model_id = response.content.decode()
    assert response["Location"].endswith(f"/models/{model_id}")

    listed = client.get("/models", {"name": "CON"}).json()
    assert [m["id"] for m in listed] == [model_id]
    assert listed[0]["precision"] == ["FP16"]
    assert listed[0]["detected_format"] == "openvino"
    assert listed[0]["size"] == len(archive)

    assert client.put(f"/models/{model_id}", {"score": 0}, format="json").json() == {"status": "completed"}
    assert client.get(f"/models/{model_id}").json()["score"] == 0

    files = client.get(f"/models/{model_id}/files")
    assert b"".join(files.streaming_content) == archive
    part = client.get(f"/models/{model_id}/files", HTTP_RANGE="bytes=10-19")
    assert part.status_code == 206 and b"".join(part.streaming_content) == archive[10:20]

    assert client.delete(f"/models/{model_id}").status_code == 204
    assert client.get(f"/models/{model_id}").status_code == 404
