import pytest
from rest_framework.test import APIClient

from tests.live import free_port

pytestmark = pytest.mark.django_db


def test_projects_lists_every_page_with_groups_models_and_openvino_models(fake_geti):
    response = APIClient().get("/projects")

    assert response.status_code == 200
    projects = response.json()
    assert [p["name"] for p in projects] == [
        "Vehicle detection",
        "Defect inspection",
        "Empty project 1",
        "Empty project 2",
        "Empty project 3",
    ]
    vehicles = projects[0]
    assert set(vehicles) == {"id", "name", "creation_time", "model_groups"}
    assert vehicles["creation_time"] == "2024-05-02T09:30:00.000000+00:00"
    yolox = vehicles["model_groups"][0]
    assert (yolox["name"], [m["version"] for m in yolox["models"]]) == ("YOLOX", [1, 2])
    _, _, int8 = fake_geti.optimized("Vehicle detection", "YOLOX", 2, "OpenVINO", "INT8")
    assert {"id": int8.id, "name": "YOLOX OpenVINO INT8", "precision": ["INT8"]} in yolox["models"][1][
        "optimized_models"
    ]
    names = [
        om["name"] for g in vehicles["model_groups"] for m in g["models"] for om in m["optimized_models"]
    ]
    assert names and not any("ONNX" in name for name in names)  # only what can be imported
    assert projects[2]["model_groups"] == []


def test_project_by_id(fake_geti):
    project = fake_geti.project("Defect inspection")
    response = APIClient().get(f"/projects/{project.id}")
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["name"]) == (project.id, "Defect inspection")
    assert (
        body["model_groups"][0]["models"][0]["optimized_models"][0]["name"] == "EfficientNet-B0 OpenVINO FP16"
    )


@pytest.mark.parametrize("project_id", ["0123456789abcdef01234567", "not-a-geti-id"])
def test_unknown_project_is_404_project_not_found(fake_geti, project_id):
    response = APIClient().get(f"/projects/{project_id}")
    assert response.status_code == 404
    assert response.content.decode() == "Project not found"
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("path", ["/projects", "/projects/0123456789abcdef01234567"])
def test_missing_configuration_is_503_naming_the_variables(settings, path):
    settings.GETI_HOST = ""
    settings.GETI_TOKEN = ""
    settings.GETI_SERVER_API_VERSION = "v1"
    settings.GETI_ORGANIZATION_ID = "org"
    settings.GETI_WORKSPACE_ID = ""
    response = APIClient().get(path)
    assert response.status_code == 503
    text = response.content.decode()
    assert "not configured: missing GETI_HOST, GETI_TOKEN, GETI_WORKSPACE_ID." in text


def test_wrong_token_is_502_not_an_empty_list(fake_geti, settings):
    settings.GETI_TOKEN = "not-the-right-token"
    response = APIClient().get("/projects")
    assert response.status_code == 502
    assert "rejected the API key (HTTP 401)" in response.content.decode()
    assert "not-the-right-token" not in response.content.decode()


def test_unreachable_geti_is_502(fake_geti, settings):
    settings.GETI_HOST = f"http://127.0.0.1:{free_port()}"
    settings.GETI_RETRIES = 0
    response = APIClient().get("/projects")
    assert response.status_code == 502
    assert response.content.decode().startswith("Cannot reach the Geti server at http://127.0.0.1:")


def test_slow_geti_is_504(fake_geti, settings):
    settings.GETI_TIMEOUT_SECONDS = 0.3
    settings.GETI_RETRIES = 0
    fake_geti.hang = 1.0
    response = APIClient().get("/projects")
    assert response.status_code == 504
    assert "did not answer the list of projects within 0.3 s" in response.content.decode()


def test_geti_failing_with_a_server_error_is_502_with_its_message(fake_geti, settings):
    settings.GETI_RETRIES = 1
    fake_geti.fail_json = 5
    response = APIClient().get("/projects")
    assert response.status_code == 502
    assert "unavailable (HTTP 503" in response.content.decode()
    assert "temporarily unavailable" in response.content.decode()
