"""POST /projects/{pid}/geti-models/download in-process, the enqueued task run by django-q2's sync mode."""

import pytest
from rest_framework.test import APIClient

from geti.models import GetiImport, GetiImportJob, ImportStatus
from registry.models import Model
from tests.live import free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("inline_tasks")]


def download(project_id: str, *models: tuple[str, str], body: object = None):  # type: ignore[no-untyped-def]
    payload = body if body is not None else {"models": [{"id": mid, "group_id": gid} for mid, gid in models]}
    return APIClient().post(f"/projects/{project_id}/geti-models/download", payload, format="json")


def stored_files() -> list[str]:
    """The stored artifacts, on whichever storage the topology uses (local folder or bucket prefix)."""
    from django.core.files.storage import default_storage

    try:
        return default_storage.listdir("models")[1]
    except FileNotFoundError:
        return []


def test_two_models_in_one_call_are_registered_with_their_geti_metadata(fake_geti):
    project = fake_geti.project("Vehicle detection")
    yolox, yolox_v2, int8 = fake_geti.optimized("Vehicle detection", "YOLOX", 2, "OpenVINO", "INT8")
    atss, atss_v1, fp16 = fake_geti.optimized("Vehicle detection", "ATSS", 1, "OpenVINO", "FP16")

    response = download(project.id, (int8.id, yolox.id), (fp16.id, atss.id))

    assert response.status_code == 201, response.content
    assert response.content.decode() == f"Model(s): {int8.id}, {fp16.id} registered."
    assert response["Content-Type"].startswith("text/plain")
    listed = {m["id"]: m for m in APIClient().get("/models", {"project_name": "vehicle"}).json()}
    assert set(listed) == {int8.id, fp16.id}
    first = listed[int8.id]
    assert (first["name"], first["version"], first["precision"]) == ("YOLOX OpenVINO INT8", "2", ["INT8"])
    assert (first["origin"], first["format"], first["detected_format"]) == ("geti", "openvino", "openvino")
    assert (first["category"], first["architecture"], first["labels"]) == (
        "Detection",
        "YOLOX",
        ["car", "truck"],
    )
    assert (first["project_id"], first["project_name"]) == (project.id, "Vehicle detection")
    assert first["score"] == pytest.approx(0.79)
    assert first["target_device"] == "CPU"
    assert first["optimization_capabilities"] == {
        "optimization_type": "POT",
        "optimization_methods": ["QUANTIZATION"],
    }

    provenance = GetiImport.objects.get(model_id=int8.id)
    assert (provenance.project_id, provenance.model_group_id, provenance.geti_model_id, provenance.optimized_model_id) == (
        project.id, yolox.id, yolox_v2.id, int8.id,
    )  # fmt: skip
    assert provenance.geti_host == fake_geti.url and provenance.job is not None


def test_an_imported_model_downloads_from_the_registry_with_the_exported_bytes(fake_geti):
    group, _, fp32 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP32")
    assert download(fake_geti.projects[0].id, (fp32.id, group.id)).status_code == 201

    files = APIClient().get(f"/models/{fp32.id}/files")
    assert files.status_code == 200
    assert b"".join(files.streaming_content) == fake_geti.export_zip(fp32)


def test_a_chain_project_category_joins_its_task_types(fake_geti):
    group, _, fp16 = fake_geti.optimized("Defect inspection", "EfficientNet-B0", 1, "OpenVINO", "FP16")
    assert download(fake_geti.project("Defect inspection").id, (fp16.id, group.id)).status_code == 201
    assert Model.objects.get(pk=fp16.id).category == "Detection_Classification"


def test_already_registered_is_409_and_nothing_else_is_registered(fake_geti):
    group, _, fp16 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP16")
    _, _, fp32 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP32")
    assert download(fake_geti.projects[0].id, (fp16.id, group.id)).status_code == 201

    response = download(fake_geti.projects[0].id, (fp32.id, group.id), (fp16.id, group.id))

    assert response.status_code == 409
    assert response.content.decode() == (
        f"Model(s): {fp16.id} is already registered. No model(s) registered.\n"
        "Tip: Delete the previously mentioned model(s) or remove the id(s) from the request body then try again."
    )
    assert list(Model.objects.values_list("pk", flat=True)) == [fp16.id]
    assert fake_geti.export_attempts[fp32.id] == 0  # refused before downloading anything


def test_reimport_after_delete_works(fake_geti):
    group, _, fp16 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP16")
    assert download(fake_geti.projects[0].id, (fp16.id, group.id)).status_code == 201
    assert APIClient().delete(f"/models/{fp16.id}").status_code == 204
    assert not GetiImport.objects.exists()
    assert download(fake_geti.projects[0].id, (fp16.id, group.id)).status_code == 201


def test_not_an_openvino_optimized_model_is_403_and_nothing_is_registered(fake_geti):
    group, trained, onnx = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "ONNX", "FP32")
    _, _, fp16 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP16")

    response = download(
        fake_geti.projects[0].id, (fp16.id, group.id), (onnx.id, group.id), (trained.id, group.id)
    )

    assert response.status_code == 403
    assert response.content.decode() == f"Model(s): {onnx.id}, {trained.id} can not be registered."
    assert not Model.objects.exists() and stored_files() == []


@pytest.mark.parametrize("case", ["project", "group", "model", "group of another model", "malformed id"])
def test_unknown_project_or_model_is_404_and_nothing_is_registered(fake_geti, case):
    group, _, fp16 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP16")
    atss, _, _ = fake_geti.optimized("Vehicle detection", "ATSS", 1, "OpenVINO", "FP16")
    project_id, bad = fake_geti.projects[0].id, (fp16.id, group.id)
    if case == "project":
        project_id = "0123456789abcdef01234567"
    elif case == "group":
        bad = (fp16.id, "0123456789abcdef01234567")
    elif case == "model":
        bad = ("0123456789abcdef01234567", group.id)
    elif case == "group of another model":
        bad = (fp16.id, atss.id)
    else:
        bad = ("not-an-id", group.id)
    _, _, fp32 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP32")

    response = download(project_id, (fp32.id, group.id), bad)

    assert response.status_code == 404
    assert response.content.decode() == "Project or model id not found. No model(s) registered."
    assert not Model.objects.exists()


@pytest.mark.parametrize(
    "body, loc",
    [
        ({}, ["body", "models"]),
        ({"models": []}, ["body", "models"]),
        ({"models": [{"id": "65f1a2b3c4d5e6f708192a3b"}]}, ["body", "models", 0, "group_id"]),
        ({"models": "x"}, ["body", "models"]),
        ([1, 2], ["body"]),
    ],
)
def test_malformed_body_is_422(fake_geti, body, loc):
    response = download(fake_geti.projects[0].id, body=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


def test_body_that_is_not_json_is_422(fake_geti):
    response = APIClient().post(
        f"/projects/{fake_geti.projects[0].id}/geti-models/download", "{oops", content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_missing_configuration_is_503(settings):
    settings.GETI_HOST = ""
    response = download("0123456789abcdef01234567", ("0123456789abcdef01234567", "0123456789abcdef01234567"))
    assert response.status_code == 503
    assert "GETI_HOST" in response.content.decode()
    assert not GetiImportJob.objects.exists()


def test_a_failure_mid_way_removes_what_the_request_registered(fake_geti):
    group, _, fp16 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP16")
    _, _, fp32 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP32")
    fake_geti.export_status[fp32.id] = 500

    response = download(fake_geti.projects[0].id, (fp16.id, group.id), (fp32.id, group.id))

    assert response.status_code == 502
    text = response.content.decode()
    assert (
        f"answered HTTP 500 for the export of optimized model {fp32.id}: Exporting the model failed." in text
    )
    assert text.endswith("No model(s) registered.")
    assert fake_geti.export_attempts[fp16.id] == 1  # the first one was imported, then removed
    assert not Model.objects.exists() and not GetiImport.objects.exists()
    assert stored_files() == []


def test_an_export_not_ready_at_first_is_retried(fake_geti):
    group, _, fp16 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP16")
    fake_geti.not_ready[fp16.id] = 2
    assert download(fake_geti.projects[0].id, (fp16.id, group.id)).status_code == 201
    assert fake_geti.export_attempts[fp16.id] == 3


def test_an_export_never_ready_is_504(fake_geti, settings):
    settings.GETI_EXPORT_DEADLINE_SECONDS = 0.2
    group, _, fp16 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP16")
    fake_geti.not_ready[fp16.id] = 1000
    response = download(fake_geti.projects[0].id, (fp16.id, group.id))
    assert response.status_code == 504
    assert "ready within 0.2 s" in response.content.decode()


def test_the_same_model_twice_in_one_request_is_imported_once(fake_geti):
    group, _, fp16 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP16")
    response = download(fake_geti.projects[0].id, (fp16.id, group.id), (fp16.id, group.id))
    assert response.status_code == 201
    assert response.content.decode() == f"Model(s): {fp16.id} registered."


def test_the_job_url_repeats_the_final_outcome(fake_geti):
    group, _, fp16 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP16")
    assert download(fake_geti.projects[0].id, (fp16.id, group.id)).status_code == 201
    job = GetiImportJob.objects.get()
    assert (job.status, job.status_code, job.registered_ids, job.attempts) == (
        ImportStatus.FINISHED,
        201,
        [fp16.id],
        1,
    )

    later = APIClient().get(f"/projects/{fake_geti.projects[0].id}/geti-models/download/{job.pk}")
    assert (later.status_code, later.content.decode()) == (201, f"Model(s): {fp16.id} registered.")
    missing = APIClient().get(f"/projects/{fake_geti.projects[0].id}/geti-models/download/nope")
    assert (missing.status_code, missing.content.decode()) == (404, "Import job not found.")


def test_geti_unreachable_during_an_import_is_502_and_nothing_is_registered(fake_geti, settings):
    group, _, fp16 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP16")
    settings.GETI_HOST = f"http://127.0.0.1:{free_port()}"
    settings.GETI_RETRIES = 0
    response = download(fake_geti.projects[0].id, (fp16.id, group.id))
    assert response.status_code == 502
    text = response.content.decode()
    assert text.startswith("Cannot reach the Geti server at http://127.0.0.1:") and text.endswith(
        "No model(s) registered."
    )
    assert not Model.objects.exists()
