"""Model-file detection (registry/detection.py) and the rule that an upload holds a model unless declared a
plain artifact (artifact_only), through the API, the serving layer and a download by URL."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from config.errors import ServiceError
from inference.services import servable_load
from registry.detection import NO_MODEL_FILE_MESSAGE, NoModelFile, detect_format, require_model_file
from registry.models import Model
from tests.registry.conftest import stored_files, zip_with
from tests.registry.test_bad_input import assert_422, post


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["m/model.xml", "m/model.bin", "labels.txt"], ("openvino", ["m/model.xml"])),
        (["model.xml", "weights.bin"], ("unknown", [])),  # the .bin must match the .xml
        (["net.ONNX"], ("onnx", ["net.ONNX"])),
        (["a.tflite"], ("tflite", ["a.tflite"])),
        (["inference.pdmodel", "inference.pdiparams"], ("paddle", ["inference.pdmodel"])),
        (["__MACOSX/._model.onnx", "readme.md"], ("unknown", [])),
        (["README.md", "config.json", "weights.safetensors"], ("unknown", [])),
    ],
)
def test_detect_format_by_file_names(names, expected):
    assert detect_format(names) == expected


def test_no_model_file_is_refused_unless_declared_an_artifact():
    with pytest.raises(NoModelFile):
        require_model_file("unknown", artifact_only=False)
    require_model_file("unknown", artifact_only=True)
    require_model_file("onnx", artifact_only=False)
    for expected in (".xml", ".bin", ".onnx", ".tflite", ".pdmodel", ".pdiparams", "artifact_only=true"):
        assert expected in NO_MODEL_FILE_MESSAGE


PLAIN = zip_with({"README.md": b"# notes", "config.json": b"{}"})


@pytest.mark.django_db
def test_upload_without_a_model_file_is_a_422_that_says_what_was_expected(artifacts_dir, upload_tmp):
    body = assert_422(post(APIClient(), {"name": "plain", "version": "1"}, PLAIN), ["body", "file"])
    (error,) = body["detail"]
    assert error["msg"] == NO_MODEL_FILE_MESSAGE and error["type"] == "value_error.no_model_file"
    assert Model.objects.count() == 0 and stored_files(artifacts_dir) == []
    assert list(upload_tmp.iterdir()) == []


@pytest.mark.django_db
@pytest.mark.parametrize("flag", ["true", "True", "1"])
def test_a_declared_plain_artifact_is_stored_but_never_served(flag):
    api = APIClient()
    response = post(api, {"name": "plain", "version": "1", "artifact_only": flag}, PLAIN)
    assert response.status_code == 201, response.content
    model_id = response.content.decode()
    shown = api.get(f"/models/{model_id}").json()
    assert shown["artifact_only"] is True and shown["detected_format"] == "unknown"
    with pytest.raises(ServiceError, match="registered as a plain artifact"):
        servable_load(model_id=model_id)
    # The flag describes the file: it cannot be switched off later to get it served.
    response = api.put(f"/models/{model_id}", {"artifact_only": False}, format="json")
    assert_422(response, ["body", "artifact_only"], "set at registration")
    assert (
        api.put(f"/models/{model_id}", {"artifact_only": True, "score": 1}, format="json").status_code == 200
    )


@pytest.mark.django_db
def test_a_model_archive_registered_without_the_flag_shows_false(ir_archive):
    api = APIClient()
    response = api.post(
        "/models",
        {"name": "ir", "version": "1", "file": SimpleUploadedFile("m.zip", ir_archive)},
        format="multipart",
    )
    assert response.status_code == 201
    assert api.get(f"/models/{response.content.decode()}").json()["artifact_only"] is False


@pytest.mark.django_db
def test_a_legacy_row_without_a_model_file_is_not_served(ir_archive):
    """Rows stored before this rule (detected_format unknown, no flag) get a clear refusal, not a load error."""
    api = APIClient()
    response = post(api, {"name": "legacy", "version": "1"}, ir_archive)
    model_id = response.content.decode()
    Model.objects.filter(pk=model_id).update(detected_format="unknown")
    with pytest.raises(ServiceError, match=r"holds no model file \(expected an OpenVINO IR"):
        servable_load(model_id=model_id)
