"""Green deployments on a real service: two server processes, a django-q2 worker, continuous load."""

import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from websockets.sync.client import connect

from tests.deployments.loadgen import LoadGenerator
from tests.lifecycle.wsclient import read_frames
from tests.live import LiveService, live_service
from tests.modelfiles import build_constant_model, ir_zip, zip_files

pytestmark = pytest.mark.live


def register(service: LiveService, archive: bytes, **fields: str) -> str:
    response = requests.post(
        f"{service.url}/models",
        files={"file": ("m.zip", archive, "application/zip")},
        data=fields,
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.text


def wait_task(service: LiveService, kind: str, task_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = requests.get(f"{service.url}/{kind}/{task_id}", timeout=10).json()
        if task["status"] not in ("pending", "processing"):
            return task
        time.sleep(0.2)
    raise AssertionError(f"{kind} task {task_id} still running: {task}\n{service.log_tail()}")


def deploy(service: LiveService, model_id: str, **config: object) -> dict:
    response = requests.post(
        f"{service.url}/deploy",
        json={"model_id": model_id, "config": {"drain_seconds": 1, **config}},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()


def reports(service: LiveService, name: str, version: int) -> list[tuple[str, int, int]]:
    """(process, state, warmed_up) of live processes, read straight from the service's database."""
    rows = service.query(
        "SELECT process_id, state, warmed_up FROM inference_versionreport r JOIN inference_servingprocess p ON p.id = r.process_id "
        "WHERE servable_name = ? AND version = ? AND p.last_seen > ?",
        (name, version, seconds_ago(10)),
    )
    return [(row["process_id"], row["state"], row["warmed_up"]) for row in rows]


def seconds_ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    env = {"MODELHUB_DEPLOYMENT_STALE_SECONDS": "3"}
    with live_service(tmp_path_factory.mktemp("deploy"), workers=2, env=env) as running:
        yield running


def test_green_deployment_under_load_never_fails_and_never_goes_back(
    service: LiveService, tmp_path: Path
) -> None:
    v1 = register(service, ir_zip(build_constant_model(1.0), tmp_path), name="const", version="1")
    v2 = register(service, ir_zip(build_constant_model(2.0), tmp_path), name="const", version="2")
    first = wait_task(service, "deploy", deploy(service, v1)["task_id"])
    assert first["status"] == "done", first

    load = LoadGenerator(service.url, "const", threads=8).start()
    time.sleep(1.5)
    task = deploy(service, v2)
    done = wait_task(service, "deploy", task["task_id"])
    finished_at = time.time()
    time.sleep(1.5)
    samples = load.stop()

    assert done["status"] == "done", done
    assert [s["name"] for s in done["metadata"]["steps"]] == [
        "download",
        "validate",
        "stage",
        "warm-up",
        "switch",
        "drain",
        "retire",
    ]
    failures = [s for s in samples if s.error]
    assert not failures, failures[:5]
    assert {s.value for s in samples} == {1.0, 2.0}
    first_v2 = min(s.received for s in samples if s.value == 2.0)
    went_back = [s for s in samples if s.sent > first_v2 and s.value != 2.0]
    assert not went_back, went_back[:5]
    assert all(s.value == 2.0 for s in samples if s.sent > finished_at)
    # Both server processes loaded v2 (warmed up) and dropped v1.
    assert len(reports(service, "const", 2)) == 2 and all(
        state == 30 and warmed for _, state, warmed in reports(service, "const", 2)
    )
    assert all(state == 50 for _, state, _ in reports(service, "const", 1))
    status = requests.get(f"{service.url}/deploy-status/{v2}", timeout=10).json()
    assert status["task_id"] == task["task_id"] and status["metadata"]["time_to_switch_seconds"] > 0


def test_broken_model_is_refused_and_the_served_version_keeps_answering(
    service: LiveService, tmp_path: Path
) -> None:
    broken = register(
        service,
        zip_files({"model.xml": b"<net>not a model</net>", "model.bin": b"\0" * 16}),
        name="const",
        version="3",
    )
    load = LoadGenerator(service.url, "const", threads=4).start()
    task = wait_task(service, "deploy", deploy(service, broken)["task_id"])
    time.sleep(0.5)
    samples = load.stop()
    assert task["status"] == "refused", task
    assert "cannot be served" in task["detail"]
    assert not [s for s in samples if s.error]
    assert {s.value for s in samples} == {2.0}


def test_deployment_steps_stream_over_the_websocket_until_the_task_ends(
    service: LiveService, tmp_path: Path
) -> None:
    v5 = register(service, ir_zip(build_constant_model(5.0), tmp_path), name="stream", version="1")
    task_id = deploy(service, v5)["task_id"]
    with connect(
        f"{service.url.replace('http://', 'ws://')}/deploy/{task_id}/events", proxy=None, open_timeout=10
    ) as ws:
        progress = read_frames(ws, timeout=60)
    assert progress.close_code == 1000
    assert progress.last["status"] == "done" and progress.last["task_id"] == task_id
    assert [step["name"] for step in progress.last["metadata"]["steps"]] == [
        "download",
        "validate",
        "stage",
        "warm-up",
        "switch",
    ]
    seen_steps = [frame["current_step"] for frame in progress.frames if frame["current_step"]]
    assert len(progress.frames) >= 3 and seen_steps, (
        progress.frames
    )  # frames arrived while it ran, not only at the end
    with connect(
        f"{service.url.replace('http://', 'ws://')}/deploy/nope/events", proxy=None, open_timeout=10
    ) as ws:
        unknown = read_frames(ws, timeout=10)
    assert unknown.close_code == 4404 and "nope" in unknown.close_reason


def server_pids(service: LiveService) -> list[int]:
    rows = service.query("SELECT pid FROM inference_servingprocess WHERE last_seen > ?", (seconds_ago(10),))
    return [row["pid"] for row in rows]


def test_worker_killed_mid_deployment_ends_failed_and_the_old_version_keeps_serving(
    service: LiveService, tmp_path: Path
) -> None:
    v4 = register(service, ir_zip(build_constant_model(4.0), tmp_path), name="const", version="4")
    load = LoadGenerator(service.url, "const", threads=4).start()
    paused = server_pids(service)[0]
    os.kill(paused, signal.SIGSTOP)  # one server process cannot load v4: the deployment waits in warm-up
    try:
        task_id = deploy(service, v4)["task_id"]
        deadline = time.monotonic() + 30
        while (
            requests.get(f"{service.url}/deploy/{task_id}", timeout=10).json()["metadata"].get("current_step")
            != "warm-up"
        ):
            assert time.monotonic() < deadline, service.log_tail()
            time.sleep(0.1)
        service.kill_worker()
    finally:
        os.kill(paused, signal.SIGCONT)
    deadline = time.monotonic() + 30
    task = requests.get(f"{service.url}/deploy/{task_id}", timeout=10).json()
    while task["status"] == "processing":
        assert time.monotonic() < deadline, task
        time.sleep(0.5)
        task = requests.get(f"{service.url}/deploy/{task_id}", timeout=10).json()
    time.sleep(1.5)  # the undone staging reaches every process
    samples = load.stop()
    service.start_worker()
    assert task["status"] == "failed" and "worker" in task["detail"], task
    assert not [s for s in samples if s.error], [s for s in samples if s.error][:3]
    assert {s.value for s in samples} == {2.0}
    versions = service.query(
        "SELECT version FROM inference_servedversion v JOIN inference_servable s ON s.id = v.servable_id WHERE s.name = 'const'"
    )
    assert [row["version"] for row in versions] == [2]


def test_delete_removes_the_model_from_service(service: LiveService) -> None:
    models = requests.get(
        f"{service.url}/models", params={"name": "const", "version": "2"}, timeout=10
    ).json()
    response = requests.post(f"{service.url}/delete", json={"model_id": models[0]["id"]}, timeout=10)
    assert response.status_code == 201, response.text
    task = wait_task(service, "delete", response.json()["task_id"])
    assert task["status"] == "done", task
    infer = requests.post(
        f"{service.url}/v2/models/const/infer",
        json={"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0, 0, 0, 0]}]},
        timeout=10,
    )
    deadline = time.monotonic() + 5
    while infer.status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        infer = requests.post(
            f"{service.url}/v2/models/const/infer",
            json={"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0, 0, 0, 0]}]},
            timeout=10,
        )
    assert infer.status_code == 404
    again = requests.post(f"{service.url}/delete", json={"model_id": models[0]["id"]}, timeout=10)
    assert wait_task(service, "delete", again.json()["task_id"])["status"] == "refused"
