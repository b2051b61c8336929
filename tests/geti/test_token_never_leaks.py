"""The Geti token never shows up in a log line, an API response, a job row or an error message."""

import logging

import pytest
from rest_framework.test import APIClient

from geti.models import GetiImportJob
from tests.live import free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("inline_tasks")]


def test_token_is_never_logged_or_returned(fake_geti, settings, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    api = APIClient()
    project = fake_geti.projects[0]
    group, _, fp16 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP16")
    _, _, fp32 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP32")
    _, _, onnx = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "ONNX", "FP32")
    fake_geti.export_status[fp32.id] = 500
    fake_geti.not_ready[fp16.id] = 1
    fake_geti.fail_json = 1

    def body(pairs):  # type: ignore[no-untyped-def]
        return {"models": [{"id": i, "group_id": g} for i, g in pairs]}

    responses = [
        api.get("/projects"),
        api.get(f"/projects/{project.id}"),
        api.get("/projects/0123456789abcdef01234567"),
        api.post(f"/projects/{project.id}/geti-models/download", body([(fp16.id, group.id)]), format="json"),
        api.post(f"/projects/{project.id}/geti-models/download", body([(fp16.id, group.id)]), format="json"),
        api.post(f"/projects/{project.id}/geti-models/download", body([(onnx.id, group.id)]), format="json"),
        api.post(f"/projects/{project.id}/geti-models/download", body([(fp32.id, group.id)]), format="json"),
    ]
    settings.GETI_TOKEN = "wrong-secret-that-must-not-leak"
    responses.append(api.get("/projects"))
    responses.append(
        api.post(f"/projects/{project.id}/geti-models/download", body([(fp32.id, group.id)]), format="json")
    )
    settings.GETI_HOST = f"http://127.0.0.1:{free_port()}"
    responses.append(api.get("/projects"))

    assert [r.status_code for r in responses] == [200, 200, 404, 201, 409, 403, 502, 502, 502, 502]
    texts = [r.content.decode() for r in responses] + [
        m for m in GetiImportJob.objects.values_list("message", flat=True)
    ]
    logs = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert "GET /api/v1/organizations/" in logs and "Geti import" in logs  # the logs did capture the traffic
    for secret in (fake_geti.token, "wrong-secret-that-must-not-leak"):
        assert not any(secret in text for text in texts)
        assert secret not in logs
