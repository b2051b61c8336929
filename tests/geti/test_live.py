"""The Geti import across real processes: uvicorn server, django-q2 worker, fake Geti over HTTP."""

import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tests.fakes.geti import FakeGeti
from tests.live import LiveService, live_service

pytestmark = pytest.mark.live

WAIT_SECONDS = 3.0


@pytest.fixture(scope="module")
def geti() -> Iterator[FakeGeti]:
    with FakeGeti() as server:
        yield server


@pytest.fixture(scope="module")
def service(geti: FakeGeti, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    env = geti.env(
        GETI_IMPORT_WAIT_SECONDS=str(WAIT_SECONDS),
        GETI_RETRY_BACKOFF_SECONDS="0.05",
        MODELHUB_LOG_LEVEL="DEBUG",
    )
    with live_service(tmp_path_factory.mktemp("geti-live"), env=env) as live:
        # Until the worker is up, imports answer 202; a request it must refuse (404) proves it runs jobs.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            probe = requests.post(
                f"{live.url}/projects/{'0' * 24}/geti-models/download",
                json={"models": [{"id": "1" * 24, "group_id": "2" * 24}]},
                timeout=30,
            )
            if probe.status_code == 404:
                break
        else:
            raise RuntimeError(f"the django-q2 worker never ran an import: {live.log_tail()}")
        yield live


def post_import(service: LiveService, project_id: str, *pairs: tuple[str, str]) -> requests.Response:
    body = {"models": [{"id": mid, "group_id": gid} for mid, gid in pairs]}
    return requests.post(f"{service.url}/projects/{project_id}/geti-models/download", json=body, timeout=60)


def test_two_models_are_imported_by_the_worker_and_served_from_the_registry(service, geti):
    group, _, fp16 = geti.optimized("Vehicle detection", "YOLOX", 2, "OpenVINO", "FP16")
    atss, _, atss_fp16 = geti.optimized("Vehicle detection", "ATSS", 1, "OpenVINO", "FP16")
    geti.not_ready[fp16.id] = 2

    response = post_import(service, geti.projects[0].id, (fp16.id, group.id), (atss_fp16.id, atss.id))

    assert (response.status_code, response.text) == (201, f"Model(s): {fp16.id}, {atss_fp16.id} registered.")
    listed = {
        m["id"]: m
        for m in requests.get(f"{service.url}/models", params={"project_name": "Vehicle"}, timeout=10).json()
    }
    assert {fp16.id, atss_fp16.id} <= set(listed)
    assert (
        listed[fp16.id]["origin"] == "geti"
        and listed[fp16.id]["file_url"] == f"{service.url}/models/{fp16.id}/files"
    )
    for optimized in (fp16, atss_fp16):
        assert requests.get(
            f"{service.url}/models/{optimized.id}/files", timeout=10
        ).content == geti.export_zip(optimized)
    again = post_import(service, geti.projects[0].id, (fp16.id, group.id))
    assert again.status_code == 409


def test_a_slow_import_answers_202_and_other_calls_are_not_blocked(service, geti):
    group, _, int8 = geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "INT8")
    geti.slow[int8.id] = WAIT_SECONDS + 3
    result: dict[str, requests.Response] = {}
    poster = threading.Thread(
        target=lambda: result.setdefault("r", post_import(service, geti.projects[0].id, (int8.id, group.id)))
    )
    started = time.monotonic()
    poster.start()
    latencies = []
    while poster.is_alive():
        for path in ("/health", "/models"):
            t0 = time.monotonic()
            assert requests.get(f"{service.url}{path}", timeout=10).status_code == 200
            latencies.append(time.monotonic() - t0)
        time.sleep(0.05)
    poster.join()
    waited = time.monotonic() - started
    print(
        f"\nwhile the import waited {waited:.1f} s: {len(latencies)} other calls, max {max(latencies) * 1000:.0f} ms"
    )
    assert max(latencies) < 1.0

    response = result["r"]
    assert response.status_code == 202
    assert WAIT_SECONDS - 0.5 < waited < WAIT_SECONDS + 3
    location = response.headers["Location"]
    assert location == response.json()["status_url"] and response.json()["status"] == "running"
    deadline = time.monotonic() + 60
    while (later := requests.get(location, timeout=10)).status_code == 202 and time.monotonic() < deadline:
        assert later.json()["bytes_done"] >= 0
        time.sleep(0.3)
    assert (later.status_code, later.text) == (201, f"Model(s): {int8.id} registered.")


def test_the_token_is_not_in_any_log(service, geti):
    assert requests.get(f"{service.url}/projects", timeout=30).status_code == 200
    logs = [
        path for path in service.data_dir.rglob("*") if path.is_file() and path.suffix in {".out", ".log"}
    ]
    assert logs
    text = "".join(path.read_text(errors="replace") for path in logs)
    assert "Geti import" in text  # the worker logged the imports (DEBUG level)
    assert geti.token not in text


def test_an_imported_model_is_downloaded_loaded_and_served(service, geti):
    group, _, fp32 = geti.optimized("Vehicle detection", "YOLOX", 2, "OpenVINO", "FP32")
    assert post_import(service, geti.projects[0].id, (fp32.id, group.id)).status_code == 201
    assert requests.post(f"{service.url}/model/{fp32.id}/download", timeout=30).status_code == 200
    deadline = time.monotonic() + 60
    while not requests.get(f"{service.url}/model/{fp32.id}", timeout=10).json()["downloaded"]:
        assert time.monotonic() < deadline, service.log_tail()
        time.sleep(0.2)
    loaded = requests.post(f"{service.url}/model/{fp32.id}/load", timeout=90)
    assert loaded.status_code == 200, loaded.text
    name, version = loaded.json()["unique"].split(":")
    body = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    answer = requests.post(f"{service.url}/v2/models/{name}/versions/{version}/infer", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == [fp32.value] * 4
    assert requests.post(f"{service.url}/model/{fp32.id}/unload", timeout=90).status_code == 200
