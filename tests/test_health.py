"""GET /health (config/health.py): 503 while the database or the artifact storage cannot be reached."""

import time
from pathlib import Path

import pytest
import requests
from rest_framework.test import APIClient

from tests.live import live_service


@pytest.mark.django_db
def test_health_is_ok_and_never_cached() -> None:
    response = APIClient().get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"
    liveness = APIClient().get("/v2/health/live")
    assert liveness.status_code == 200


@pytest.mark.django_db
def test_health_is_503_when_the_artifact_storage_fails(tmp_path: Path, settings: object) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the storage folder should be")
    settings.STORAGES = {  # type: ignore[attr-defined]
        **settings.STORAGES,  # type: ignore[attr-defined]
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": blocker},
        },
    }
    response = APIClient().get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert set(response.json()["failing"]) == {"storage"}
    assert response["Cache-Control"] == "no-store"


def wait_for_status(url: str, status: int) -> requests.Response:
    deadline = time.monotonic() + 30
    while True:
        response = requests.get(f"{url}/health", timeout=10)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


@pytest.mark.live
def test_health_of_a_server_follows_its_database_and_storage(tmp_path: Path) -> None:
    # Breaks the SQLite file and the artifact folder, so it runs on the embedded defaults under every topology;
    # PostgreSQL stopped under a running cluster is tests/scaled/test_topology.py.
    embedded = {"DATABASE_URL": "", "MODELHUB_S3_BUCKET": "", "REDIS_URL": ""}
    with live_service(tmp_path / "data", with_worker=False, env=embedded, isolate=False) as server:
        database = server.data_dir / "modelhub.sqlite3"
        moved = server.data_dir / "moved.sqlite3"
        database.rename(moved)
        database.mkdir()  # a folder where the database file should be: SQLite cannot open it
        try:
            response = wait_for_status(server.url, 503)
            assert response.status_code == 503, response.text
            assert response.json()["status"] == "unavailable"
            assert "database" in response.json()["failing"]
            # liveness stays up: it does no I/O
            assert requests.get(f"{server.url}/v2/health/live", timeout=10).status_code == 200
        finally:
            database.rmdir()
            moved.rename(database)
        assert wait_for_status(server.url, 200).json() == {"status": "ok"}

        artifacts = server.data_dir / "artifacts"
        artifacts.rename(server.data_dir / "moved-artifacts")
        artifacts.write_text("a file where the artifact folder should be")
        response = wait_for_status(server.url, 503)
        assert response.status_code == 503 and set(response.json()["failing"]) == {"storage"}, response.text
        artifacts.unlink()
        (server.data_dir / "moved-artifacts").rename(artifacts)
        assert wait_for_status(server.url, 200).json() == {"status": "ok"}
