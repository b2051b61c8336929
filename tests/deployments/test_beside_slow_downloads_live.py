"""A deployment runs while a URL download crawls (issue 20, finding 9): downloads have their own django-q2 queue
and workers, so a slow source cannot hold the worker a deployment needs."""

import time

import pytest
import requests

from tests.deployments.test_green_deployment import deploy, register, wait_task
from tests.lifecycle.fileserver import FileServer, Served
from tests.live import live_service
from tests.modelfiles import build_constant_model, ir_zip

pytestmark = pytest.mark.live


def test_a_deployment_does_not_wait_behind_a_trickling_download(tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = FileServer().start()
    env = {
        "MODELHUB_WORKERS": "1",  # one worker for tasks: before, the download took it
        "MODELHUB_DOWNLOAD_WORKERS": "1",
        "MODELHUB_SOURCE_URL_ALLOW": "127.0.0.1",
        "MODELHUB_SOURCE_URL_MIN_BYTES_PER_SECOND": "0",
    }
    try:
        with live_service(tmp_path / "data", env=env) as service:
            url = source.serve("/crawl.zip", Served(b"x" * 100_000, trickle=0.5))
            response = requests.post(
                f"{service.url}/models",
                data={"id": "crawl", "name": "crawl", "version": "1", "source_url": url},
                timeout=30,
            )
            assert response.status_code == 201, response.text
            assert requests.post(f"{service.url}/model/crawl/download", timeout=10).status_code < 300
            deadline = time.monotonic() + 30
            while (
                requests.get(f"{service.url}/model/crawl/download/progress", timeout=10).json()["bytes_done"]
                == 0
            ):
                assert time.monotonic() < deadline, service.log_tail()
                time.sleep(0.2)

            model_id = register(service, ir_zip(build_constant_model(1.0), tmp_path), name="c", version="1")
            task = wait_task(
                service, "deploy", deploy(service, model_id, drain_seconds=0)["task_id"], timeout=90
            )
            assert task["status"] == "done", task
            progress = requests.get(f"{service.url}/model/crawl/download/progress", timeout=10).json()
            assert progress["status"] == "IN-PROGRESS", progress  # still crawling while the deployment ran
    finally:
        source.stop()
