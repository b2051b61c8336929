"""The admin shows each model's lifecycle state and offers download (and cancel on the job rows)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from inference.lifecycle import services
from inference.lifecycle.models import DownloadJob, DownloadStatus
from tests.lifecycle.conftest import model_zip

pytestmark = pytest.mark.django_db


@pytest.fixture
def model_id(tmp_path) -> str:
    archive = SimpleUploadedFile("m.zip", model_zip(tmp_path), content_type="application/zip")
    response = APIClient().post(
        "/models", {"file": archive, "name": "adm", "version": "1"}, format="multipart"
    )
    return response.content.decode()


def test_model_list_shows_lifecycle_and_the_download_action_queues(admin_client, model_id):
    page = admin_client.get("/admin/registry/model/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Lifecycle" in html and "not downloaded" in html and "download_selected" in html

    response = admin_client.post(
        "/admin/registry/model/", {"action": "download_selected", "_selected_action": [model_id]}, follow=True
    )
    assert response.status_code == 200 and "queued or joined" in response.content.decode()
    assert DownloadJob.objects.get(pk=model_id).status == DownloadStatus.INITIALIZED
    assert "INITIALIZED" in admin_client.get("/admin/registry/model/").content.decode()

    change = admin_client.get(f"/admin/registry/model/{model_id}/change/")
    assert (
        change.status_code == 200
        and "Download to this node" in change.content.decode()
        and "INITIALIZED" in change.content.decode()
    )


def test_job_admin_lists_and_cancels(admin_client, model_id):
    services.download_start(model_id=model_id, enqueue=False)
    assert "INITIALIZED" in admin_client.get("/admin/lifecycle/downloadjob/").content.decode()
    response = admin_client.post(
        "/admin/lifecycle/downloadjob/",
        {"action": "cancel_selected", "_selected_action": [model_id]},
        follow=True,
    )
    assert response.status_code == 200 and "CANCELED" in response.content.decode()
    assert DownloadJob.objects.get(pk=model_id).status == DownloadStatus.CANCELED
