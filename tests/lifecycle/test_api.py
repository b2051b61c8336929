"""Lifecycle endpoints and services in process: snapshot, update, URL registration, join, cancel, recovery."""

import logging
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_q.models import OrmQ
from rest_framework.test import APIClient

from access.models import AuditEvent
from inference.cache import cached_path, evict
from inference.lifecycle import services
from inference.lifecycle.models import DownloadJob, DownloadStatus
from inference.models import Servable, ServedVersion, ServingProcess, VersionReport, VersionState
from registry.models import Model
from tests.lifecycle.conftest import model_zip, sha256_of
from tests.lifecycle.fileserver import Served

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sources_allowed(settings) -> None:  # type: ignore[no-untyped-def]
    """The URLs these tests register: the local file server and names never fetched (no DNS here)."""
    settings.SOURCE_URL_ALLOW = ["127.0.0.1", "example.com", "e.com"]


SNAPSHOT_KEYS = {
    "id", "name", "version", "created", "description", "cloud", "type", "usage", "custom", "downloaded",
    "downloading", "loaded", "unique", "bytes", "ram", "cpu", "download", "format",
}  # fmt: skip


@pytest.fixture
def client() -> APIClient:
    return APIClient()


def upload(client: APIClient, tmp_path, **fields: str) -> str:
    archive = model_zip(tmp_path)
    data = {
        "file": SimpleUploadedFile("m.zip", archive, content_type="application/zip"),
        "name": "const",
        "version": "3",
        **fields,
    }
    response = client.post("/models", data, format="multipart")
    assert response.status_code == 201, response.content
    return response.content.decode()


def test_snapshot_of_an_uploaded_model(client, tmp_path):
    model_id = upload(
        client, tmp_path, overview='{"description": "Adds nothing", "other": 1}', category="classification"
    )
    body = client.get(f"/model/{model_id}").json()
    assert set(body) == SNAPSHOT_KEYS
    assert body["id"] == model_id and body["name"] == "const" and body["version"] == "3"
    assert (
        body["description"] == "Adds nothing"
        and body["usage"] == "UNKNOWN"
        and body["type"] == "ACCURACY"  # FP32
        and body["format"] == "openvino"
    )
    assert body["cloud"] is False and body["custom"] is True and body["cpu"] is True
    assert (
        body["downloaded"] is False
        and body["downloading"] is False
        and body["loaded"] is False
        and body["ram"] is None
    )
    assert body["unique"] == "const:3"
    assert body["bytes"]["value"] == Model.objects.get(pk=model_id).size and body["bytes"][
        "readable"
    ].endswith("KB")
    assert body["created"]["readable"].endswith("ago") and body["created"]["value"].endswith("Z")
    assert body["download"] == {
        "status": "UNKNOWN",
        "percentage": 0.0,
        "bytes_done": 0,
        "bytes_total": 0,
        "phase": "",
        "error": None,
        "nodes": [],
    }


def test_snapshot_of_an_unknown_model_is_410_as_the_spec_says(client):
    response = client.get("/model/nope")
    assert response.status_code == 410
    assert "model was not found" in response.json()["detail"] and "nope" in response.json()["detail"]


def test_loaded_and_ram_come_from_live_server_process_reports(client, tmp_path):
    model_id = upload(client, tmp_path)
    servable = Servable.objects.create(name="const")
    ServedVersion.objects.create(servable=servable, version=3, model_id=model_id)
    now = timezone.now()
    live = ServingProcess.objects.create(id="h:1:a", host="h", pid=1, started_at=now, last_seen=now)
    dead = ServingProcess.objects.create(
        id="h:2:a", host="h", pid=2, started_at=now, last_seen=now - timedelta(minutes=5)
    )
    VersionReport.objects.create(
        process=dead, servable_name="const", version=3, state=VersionState.AVAILABLE, ram_bytes=999
    )
    assert client.get(f"/model/{model_id}").json()["loaded"] is False  # only a dead process holds it
    VersionReport.objects.create(
        process=live, servable_name="const", version=3, state=VersionState.AVAILABLE, ram_bytes=2048
    )
    body = client.get(f"/model/{model_id}").json()
    assert body["loaded"] is True and body["ram"] == {"value": 2048, "readable": "2.0 KB"}


def test_register_from_url_json_and_multipart(client):
    digest = "ab" * 32
    response = client.post(
        "/models",
        {
            "name": "remote",
            "version": "1",
            "source_url": "https://example.com/m.zip",
            "sha256": digest.upper(),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    model = Model.objects.get(pk=response.content.decode())
    assert (
        model.source_url == "https://example.com/m.zip"
        and model.sha256 == digest
        and not model.file
        and model.size == 0
    )
    assert client.get(f"/models/{model.pk}").json()["file_url"] is None
    files = client.get(f"/models/{model.pk}/files")
    assert files.status_code == 404 and b"registered from a URL" in files.content

    response = client.post(
        "/models",
        {"name": "remote", "version": "2", "source_url": "http://127.0.0.1:1/x.zip"},
        format="multipart",
    )
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("fields", "loc", "message"),
    [
        ({"source_url": "not a url"}, ["body", "source_url"], "valid URL"),
        ({"source_url": "https://e.com/m.zip", "sha256": "xyz"}, ["body", "sha256"], "64 hexadecimal"),
        ({}, ["body", "file"], "source_url"),
    ],
)
def test_register_from_url_rejects_bad_input(client, fields, loc, message):
    response = client.post("/models", {"name": "remote", "version": "1", **fields}, format="json")
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == loc and message in error["msg"]


def test_file_and_url_together_is_rejected(client, tmp_path):
    data = {
        "file": SimpleUploadedFile("m.zip", model_zip(tmp_path)),
        "name": "x",
        "version": "1",
        "source_url": "https://e.com/m.zip",
    }
    response = client.post("/models", data, format="multipart")
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "source_url"]


def test_update_a_custom_model(client, tmp_path):
    model_id = upload(client, tmp_path, overview='{"description": "old", "keep": true}')
    snapshot = client.get(f"/model/{model_id}").json()
    # A client sends back the whole object it got, with its edits; computed fields are ignored.
    snapshot.update(
        name="renamed",
        version="4",
        description="new words",
        usage="TEXT_EMBEDDING",
        downloaded=True,
        format="onnx",
    )
    response = client.post("/model/update", snapshot, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (
        body["name"] == "renamed"
        and body["version"] == "4"
        and body["description"] == "new words"
        and body["usage"] == "TEXT_EMBEDDING"
        and body["format"] == "onnx"
        and body["type"] == "ACCURACY"
    )
    assert body["downloaded"] is False
    model = Model.objects.get(pk=model_id)
    assert model.overview == {"description": "new words", "keep": True} and model.format == "onnx"
    assert client.get(f"/model/{model_id}").json()["usage"] == "TEXT_EMBEDDING"


@pytest.mark.parametrize(
    ("precision", "shown"),
    [
        ("FP32", "ACCURACY"),
        ("FP16", "BALANCED"),
        ("INT8", "SPEED"),
        ("int4", "SPEED"),
        ('["FP16","INT8"]', "BALANCED"),
    ],
)
def test_type_follows_the_first_precision(client, tmp_path, precision, shown):
    model_id = upload(client, tmp_path, precision=precision)
    assert client.get(f"/model/{model_id}").json()["type"] == shown


def test_an_update_sets_the_type_and_the_precision_value_follows_the_precision_again(client, tmp_path):
    model_id = upload(client, tmp_path, precision="FP16")
    response = client.post("/model/update", {"id": model_id, "type": "SPEED"}, format="json")
    assert response.status_code == 200 and response.json()["type"] == "SPEED"
    assert AuditEvent.objects.filter(
        action="update", object_id=model_id, detail={"fields": ["type"]}
    ).exists()
    client.put(f"/models/{model_id}", {"precision": "FP32"}, format="json")
    assert client.get(f"/model/{model_id}").json()["type"] == "SPEED"  # set by the update: stays
    client.post("/model/update", {"id": model_id, "type": "ACCURACY"}, format="json")
    client.put(f"/models/{model_id}", {"precision": "INT8"}, format="json")
    assert client.get(f"/model/{model_id}").json()["type"] == "SPEED"  # follows the precision again


def test_update_accepts_every_field_of_the_pieces_model_with_nulls(client, tmp_path):
    model_id = upload(client, tmp_path)
    body = {
        **client.get(f"/model/{model_id}").json(),
        "description": "from Pieces",
        "capabilities": {"assets": True, "images": False, "videos": None},
        "denied": False,
        "foundation": "LLAMA_3_8B",
        "maxTokens": {"input": 4096, "output": 1024.5, "total": None},
        "organization": {"id": "org-1", "reference": None},
        "parameters": None,
        "provider": "OpenAI",
        "quantization": "q4f16_1",
        "schema": {"migration": 0, "semantic": "MAJOR_0_MINOR_0_PATCH_1"},
        "score": {"automatic": 1, "manual": 2, "priority": None},
        "ram": None,
        "unique": None,
        "name": None,
    }
    response = client.post("/model/update", body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["description"] == "from Pieces" and response.json()["name"] == "const"


def test_update_of_a_geti_model_is_403(client, tmp_path):
    model_id = upload(client, tmp_path, origin="Geti")
    response = client.post("/model/update", {"id": model_id, "name": "x"}, format="json")
    assert response.status_code == 403
    assert "imported from Geti" in response.json()["detail"]
    assert Model.objects.get(pk=model_id).name == "const"


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({"id": "missing", "name": "x"}, 404, "'missing' was not found"),
        ({"name": "x"}, 422, "required"),
        ({"id": "m", "flavour": "x"}, 422, "Unsupported key(s) found: flavour"),
        ({"id": "m", "name": ""}, 422, "blank"),
        ({"id": "m", "name": 5}, 422, "Not a valid string"),
        ({"id": 5}, 422, "id must match"),
        ({"id": "m", "usage": "detection"}, 422, "not a valid choice"),
        ({"id": "m", "type": "openvino"}, 422, "not a valid choice"),
        ({"id": "m", "denied": "no"}, 422, "Must be a valid boolean"),
        ({"id": "m", "parameters": "7"}, 422, "A valid number is required"),
        ({"id": "m", "score": {"automatic": 1}}, 422, "required"),
        ({"id": "m", "maxTokens": 5}, 422, "Invalid data"),
        ({"id": "m", "created": {"value": "yesterday"}}, 422, "Datetime has wrong format"),
    ],
)
def test_update_bad_requests(client, body, status, text):
    response = client.post("/model/update", body, format="json")
    assert response.status_code == status
    assert text in str(response.json()["detail"])


def test_update_to_an_existing_identity_is_409(client, tmp_path):
    upload(client, tmp_path)
    other = upload(client, tmp_path, version="9")
    response = client.post("/model/update", {"id": other, "version": "3"}, format="json")
    assert response.status_code == 409 and "already registered" in response.json()["detail"]


def test_unknown_ids_are_404_and_cancel_without_download_is_409(client, tmp_path):
    assert client.post("/model/nope/download").status_code == 404
    response = client.post("/model/nope/download/cancel")
    assert response.status_code == 404 and response.json() == {"detail": "Model 'nope' was not found."}
    model_id = upload(client, tmp_path)
    response = client.post(f"/model/{model_id}/download/cancel")
    assert response.status_code == 409
    assert "No download of model" in response.json()["detail"]


def test_second_download_call_joins_the_first(client, tmp_path, django_capture_on_commit_callbacks):
    model_id = upload(client, tmp_path)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(f"/model/{model_id}/download")
        second = client.post(f"/model/{model_id}/download")
    assert first.status_code == second.status_code == 200
    assert first.json()["downloading"] is True and first.json()["download"]["status"] == "INITIALIZED"
    assert OrmQ.objects.count() == 1  # one task for both calls


def test_cancel_before_a_worker_takes_it_and_the_late_task_does_nothing(client, tmp_path):
    model_id = upload(client, tmp_path)
    job = services.download_start(model_id=model_id, enqueue=False)
    response = client.post(f"/model/{model_id}/download/cancel")
    assert response.status_code == 200 and response.json()["download"]["status"] == "CANCELED"
    assert services.download_run(model_id=model_id, run_id=job.run_id) == "CANCELED"
    assert cached_path(Model.objects.get(pk=model_id)) is None
    assert client.post(f"/model/{model_id}/download/cancel").status_code == 409


@pytest.mark.django_db(transaction=True)
def test_download_of_a_stored_model_unpacks_into_the_cache(client, tmp_path):
    model_id = upload(client, tmp_path)
    job = services.download_start(model_id=model_id, enqueue=False)
    assert services.download_run(model_id=model_id, run_id=job.run_id) == "COMPLETED"
    folder = cached_path(Model.objects.get(pk=model_id))
    assert (
        folder is not None
        and (folder / "model.xml").exists()
        and folder.parent.name == "const"
        and folder.name == "3"
    )
    body = client.get(f"/model/{model_id}").json()
    assert body["downloaded"] is True and body["downloading"] is False
    assert body["download"]["status"] == "COMPLETED" and body["download"]["percentage"] == 100.0
    # Once in the cache, another download is done at once (no task).
    again = services.download_start(model_id=model_id)
    assert again.status == DownloadStatus.COMPLETED and OrmQ.objects.count() == 0
    assert (
        services.download_run(model_id=model_id, run_id=job.run_id) == "COMPLETED"
    )  # a redelivered task is a no-op

    evict(Model.objects.get(pk=model_id))  # its files leave this node's cache: the download must start over
    body = client.get(f"/model/{model_id}").json()
    assert body["downloaded"] is False and body["download"]["status"] == "RESET"
    assert services.download_start(model_id=model_id, enqueue=False).status == DownloadStatus.INITIALIZED


def _stale_job(model_id: str, **fields) -> DownloadJob:
    job = services.download_start(model_id=model_id, enqueue=False)
    DownloadJob.objects.filter(pk=model_id).update(
        status=DownloadStatus.IN_PROGRESS,
        heartbeat=timezone.now() - timedelta(minutes=5),
        worker="elsewhere:1",
        **fields,
    )
    job.refresh_from_db()
    return job


def test_stale_download_is_reset_and_queued_again(client, tmp_path, django_capture_on_commit_callbacks):
    model_id = upload(client, tmp_path)
    _stale_job(model_id)
    with django_capture_on_commit_callbacks(execute=True):
        body = client.get(f"/model/{model_id}").json()  # a reader meeting a stale job triggers recovery
    assert body["download"]["status"] == "RESET" and body["downloading"] is True
    assert DownloadJob.objects.get(pk=model_id).resumes == 1
    assert OrmQ.objects.count() == 1


def test_stale_download_resumed_too_often_fails_with_the_reason(client, tmp_path):
    model_id = upload(client, tmp_path)
    _stale_job(model_id, resumes=3)
    assert services.download_recover() == 1
    body = client.get(f"/model/{model_id}").json()
    assert body["download"]["status"] == "FAILED" and body["downloading"] is False
    assert "stopped" in body["download"]["error"] and "giving up" in body["download"]["error"]


def test_download_of_a_dead_local_worker_is_recovered_without_waiting(client, tmp_path):
    model_id = upload(client, tmp_path)
    _stale_job(model_id)
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    DownloadJob.objects.filter(pk=model_id).update(
        heartbeat=timezone.now(), worker=f"{socket.gethostname()}:{finished.stdout.strip()}"
    )
    assert services.download_recover() == 1
    assert DownloadJob.objects.get(pk=model_id).status == DownloadStatus.RESET
    DownloadJob.objects.filter(pk=model_id).update(
        status=DownloadStatus.IN_PROGRESS, heartbeat=timezone.now(), worker=services.node_id()
    )
    assert services.download_recover() == 0  # a live worker with a fresh heartbeat is left alone


def test_deleting_a_model_mid_download_is_refused(client, tmp_path):
    model_id = upload(client, tmp_path)
    services.download_start(model_id=model_id, enqueue=False)
    response = client.delete(f"/models/{model_id}")
    assert response.status_code == 409 and b"being downloaded" in response.content
    services.download_cancel(model_id=model_id)
    assert client.delete(f"/models/{model_id}").status_code == 204


@pytest.mark.django_db(transaction=True)
def test_url_model_download_fetches_stores_and_unpacks(client, tmp_path, file_server):
    archive = model_zip(tmp_path, padding=100_000)
    url = file_server.serve("/m.zip", Served(archive))
    response = client.post(
        "/models",
        {"name": "remote", "version": "1", "source_url": url, "sha256": sha256_of(archive)},
        format="json",
    )
    model_id = response.content.decode()
    job = services.download_start(model_id=model_id, enqueue=False)
    assert services.download_run(model_id=model_id, run_id=job.run_id) == "COMPLETED"
    model = Model.objects.get(pk=model_id)
    assert (
        model.file
        and model.size == len(archive)
        and model.sha256 == sha256_of(archive)
        and model.detected_format == "openvino"
    )
    assert cached_path(model) is not None
    assert not services.partial_folder(model_id).exists()


def test_cancel_of_a_download_whose_worker_died_removes_its_partial_file(client, tmp_path):
    model_id = upload(client, tmp_path)
    _stale_job(model_id)
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    DownloadJob.objects.filter(pk=model_id).update(
        heartbeat=timezone.now(), worker=f"{socket.gethostname()}:{finished.stdout.strip()}"
    )
    services.partial_folder(model_id).mkdir(parents=True, exist_ok=True)
    partial = services.partial_folder(model_id) / "abc.zip.part"
    partial.write_bytes(b"half")
    response = client.post(f"/model/{model_id}/download/cancel")
    assert response.status_code == 200 and response.json()["download"]["status"] == "CANCELED"
    assert not partial.exists()


@pytest.mark.django_db(transaction=True)
def test_failed_transfer_keeps_its_partial_file_and_the_next_download_resumes(
    client, tmp_path, file_server, settings
):
    settings.LIFECYCLE_RETRIES = 0
    archive = model_zip(tmp_path, padding=300_000)
    url = file_server.serve("/flaky.zip", Served(archive, drop_after=100_000, drop_times=1))
    body = {"name": "flaky", "version": "1", "source_url": url, "sha256": sha256_of(archive)}
    model_id = client.post("/models", body, format="json").content.decode()

    job = services.download_start(model_id=model_id, enqueue=False)
    assert services.download_run(model_id=model_id, run_id=job.run_id) == "FAILED"
    failed = client.get(f"/model/{model_id}").json()["download"]
    assert "connection broke" in failed["error"] and 0 < failed["bytes_done"] < len(archive)
    assert any(services.partial_folder(model_id).iterdir())

    job = services.download_start(model_id=model_id, enqueue=False)
    assert services.download_run(model_id=model_id, run_id=job.run_id) == "COMPLETED"
    second = file_server.requests_for("/flaky.zip")[-1]
    assert second["Range"] == f"bytes={failed['bytes_done']}-"
    assert Model.objects.get(pk=model_id).sha256 == sha256_of(archive)


@pytest.mark.parametrize("bad_id", [{}, [], "has space", "a" * 200])
def test_update_with_a_bad_id_is_a_422_that_shows_the_pattern(client, bad_id):
    response = client.post("/model/update", {"id": bad_id, "name": "x"}, format="json")
    assert response.status_code == 422, response.content
    errors = response.json()["detail"]
    assert all(error["loc"] == ["body", "id"] for error in errors)
    assert any("{0,127}" in error["msg"] for error in errors)


def test_registry_id_with_a_non_string_is_a_422(client):
    response = client.post("/models", {"id": {}, "name": "x", "version": "1"}, format="json")
    assert response.status_code == 422 and "{0,127}" in response.json()["detail"][0]["msg"]


@pytest.mark.django_db(transaction=True)
def test_url_download_of_a_zip_without_a_model_file_fails_with_the_reason(client, file_server):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.md", "no model here")
    url = file_server.serve("/plain.zip", Served(buffer.getvalue()))
    model_id = client.post(
        "/models", {"name": "plain-url", "version": "1", "source_url": url}, format="json"
    ).content.decode()
    job = services.download_start(model_id=model_id, enqueue=False)
    assert services.download_run(model_id=model_id, run_id=job.run_id) == "FAILED"
    error = client.get(f"/model/{model_id}").json()["download"]["error"]
    assert "holds no model file" in error and "artifact_only=true" in error
    assert not Model.objects.get(pk=model_id).file


# transaction=True like every test here whose download_run does work: its watcher thread reads the job on a
# connection of its own, which cannot see rows left uncommitted by a test transaction; it would take the
# missing row for a deleted model and cancel the run whenever the run outlasts the watcher's first look
# (0.2 s: usual on PostgreSQL + S3, rare on SQLite + local disk).
@pytest.mark.django_db(transaction=True)
def test_a_download_resumed_on_another_host_says_it_starts_over(client, tmp_path, file_server, caplog):
    archive = model_zip(tmp_path, padding=50_000)
    url = file_server.serve("/moved.zip", Served(archive))
    model_id = client.post(
        "/models",
        {"name": "moved", "version": "1", "source_url": url, "sha256": sha256_of(archive)},
        format="json",
    ).content.decode()
    job = _stale_job(model_id, bytes_done=20_000, progress=30.0)  # its worker died on "elsewhere"
    DownloadJob.objects.filter(pk=model_id).update(status=DownloadStatus.RESET)
    with caplog.at_level(logging.INFO, logger="inference.lifecycle.services"):
        assert services.download_run(model_id=model_id, run_id=job.run_id) == "COMPLETED"
    assert "interrupted on host elsewhere; its partial file stays there" in caplog.text
    assert "resumed at byte" not in caplog.text
    assert [r.get("Range", "") for r in file_server.requests_for("/moved.zip")] == [""]  # from byte 0


def test_progress_by_plain_get(client, tmp_path):
    response = client.get("/model/nope/download/progress")
    assert response.status_code == 404 and response.json() == {"detail": "Model 'nope' was not found."}
    model_id = upload(client, tmp_path)
    body = client.get(f"/model/{model_id}/download/progress").json()
    assert body["status"] == "UNKNOWN" and body["percentage"] == 0
    assert body == client.get(f"/model/{model_id}").json()["download"]
