"""Canary and shadow deployments on a real service: two server processes, a django-q2 worker, load throughout."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import requests
import tritonclient.grpc as triton

from tests.deployments.loadgen import LoadGenerator
from tests.deployments.test_green_deployment import register, wait_task
from tests.live import LiveService, live_service
from tests.modelfiles import build_constant_model, ir_zip

pytestmark = pytest.mark.live

BODY = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.0, 1.0, 2.0, 3.0]}]}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    # stale after 8 s: a busy machine can hold a step (compiling in the worker) for a few seconds without a beat
    env = {"MODELHUB_DEPLOYMENT_STALE_SECONDS": "8", "MODELHUB_TRAFFIC_SECONDS": "1"}
    with live_service(tmp_path_factory.mktemp("canary"), workers=2, env=env) as running:
        yield running


def deploy(service: LiveService, model_id: str, **config: object) -> str:
    response = requests.post(
        f"{service.url}/deploy",
        json={"model_id": model_id, "config": {"drain_seconds": 1, **config}},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["task_id"]


def wait_weight(service: LiveService, task_id: str, weight: int, timeout: float = 60) -> dict:
    """Until the task holds `weight`, plus the time every server process needs to read it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = requests.get(f"{service.url}/deploy/{task_id}", timeout=10).json()
        assert task["status"] in ("pending", "processing"), task
        step = task["metadata"].get("current_step") or ""
        if task["metadata"].get("weight") == weight and step.endswith(f" {weight}%"):
            time.sleep(1.5)  # reconcile period (0.5 s) with room to spare
            return task
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} never held {weight}%: {task}\n{service.log_tail()}")


def infer_values(service: LiveService, count: int, path: str = "/v2/models/const/infer") -> list[float]:
    """`count` requests, 16 at a time, each thread on its own keep-alive connection."""
    local = threading.local()

    def one(_: int) -> float:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        response = session.post(f"{service.url}{path}", json=BODY, timeout=10)
        assert response.status_code == 200, response.text
        return float(response.json()["outputs"][0]["data"][0])

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, range(count)))


def candidate_weight(service: LiveService, name: str) -> list[tuple[int | None, int]]:
    rows = service.query(
        "SELECT candidate_version, candidate_weight FROM inference_servable WHERE name = ?", (name,)
    )
    return [(row["candidate_version"], row["candidate_weight"]) for row in rows]


def served(service: LiveService, name: str) -> list[int]:
    rows = service.query(
        "SELECT version FROM inference_servedversion v JOIN inference_servable s ON s.id = v.servable_id "
        "WHERE s.name = ? ORDER BY version",
        (name,),
    )
    return [row["version"] for row in rows]


def test_a_20_percent_canary_takes_20_percent_on_both_processes_and_promotes_without_a_failure(
    service: LiveService, tmp_path: Path
) -> None:
    v1 = register(service, ir_zip(build_constant_model(1.0), tmp_path), name="const", version="1")
    v2 = register(service, ir_zip(build_constant_model(2.0), tmp_path), name="const", version="2")
    assert wait_task(service, "deploy", deploy(service, v1))["status"] == "done"
    load = LoadGenerator(service.url, "const", threads=4).start()
    task_id = deploy(service, v2, strategy="canary", weight=20)
    held = wait_weight(service, task_id, 20)
    assert held["metadata"]["candidate"] == {"servable": "const", "version": 2, "stable": 1}

    began = datetime.now(UTC)
    values = infer_values(service, 2000)
    share = values.count(2.0) / len(values)
    assert set(values) == {1.0, 2.0} and 0.17 <= share <= 0.23, share
    # The same split on TF Serving REST and KServe gRPC (400 requests each: 3.5 standard deviations are 7 %).
    with requests.Session() as session:
        predictions = [
            session.post(
                f"{service.url}/v1/models/const:predict", json={"instances": [[0, 1, 2, 3]]}, timeout=10
            ).json()["predictions"][0][0]
            for _ in range(400)
        ]
    assert set(predictions) == {1.0, 2.0} and 0.13 <= predictions.count(2.0) / 400 <= 0.27
    client = triton.InferenceServerClient(service.grpc_address)
    tensor = triton.InferInput("input", [1, 4], "FP32")
    tensor.set_data_from_numpy(np.arange(4, dtype=np.float32).reshape(1, 4))
    answered = [client.infer("const", [tensor]).get_response().model_version for _ in range(400)]
    assert set(answered) == {"1", "2"} and 0.13 <= answered.count("2") / 400 <= 0.27
    # Requests naming a version are not split.
    assert set(infer_values(service, 100, "/v2/models/const/versions/1/infer")) == {1.0}
    assert set(infer_values(service, 100, "/v2/models/const/versions/2/infer")) == {2.0}
    time.sleep(2.5)  # every process stores its traffic every second
    rows = service.query(
        "SELECT process_id, version, SUM(requests) AS n FROM inference_trafficsample "
        "WHERE servable_name = 'const' AND started_at >= ? GROUP BY process_id, version",
        (began,),
    )
    per_process: dict[str, dict[int, int]] = {}
    for row in rows:
        per_process.setdefault(row["process_id"], {})[row["version"]] = row["n"]
    assert len(per_process) == 2, per_process  # both server processes answered, each with the same share
    for counts in per_process.values():
        # the named-version requests above count too: take them out of each process's tally (at most 100 each)
        version_less_1 = counts.get(1, 0)
        assert counts.get(2, 0) > 50 and version_less_1 > 200, per_process
    total = {v: sum(c.get(v, 0) for c in per_process.values()) for v in (1, 2)}
    for counts in per_process.values():
        local_share = counts.get(2, 0) / (counts.get(1, 0) + counts.get(2, 0))
        overall = total[2] / (total[1] + total[2])
        assert abs(local_share - overall) < 0.06, per_process

    promote = requests.post(f"{service.url}/deploy/{task_id}/promote", timeout=10)
    assert promote.status_code == 202, promote.text
    done = wait_task(service, "deploy", task_id)
    finished = time.time()
    time.sleep(1.5)
    samples = load.stop()
    assert done["status"] == "done", done
    names = [step["name"] for step in done["metadata"]["steps"]]
    assert names == ["download", "validate", "stage", "warm-up", "canary 20%", "switch", "drain", "retire"]
    assert "promoted by" in done["metadata"]["steps"][4]["detail"]
    assert not [s for s in samples if s.error], [s for s in samples if s.error][:3]
    assert all(s.value == 2.0 for s in samples if s.sent > finished)
    assert served(service, "const") == [2] and candidate_weight(service, "const") == [(None, 0)]
    again = requests.post(f"{service.url}/deploy/{task_id}/weight", json={"weight": 5}, timeout=10)
    assert again.status_code == 409 and "done" in again.json()["detail"]


def test_a_rolled_back_canary_leaves_the_stable_version_without_a_failed_request(
    service: LiveService, tmp_path: Path
) -> None:
    v3 = register(service, ir_zip(build_constant_model(3.0), tmp_path), name="const", version="3")
    load = LoadGenerator(service.url, "const", threads=4).start()
    task_id = deploy(service, v3, strategy="canary", weight=20)
    wait_weight(service, task_id, 20)
    weight = requests.post(f"{service.url}/deploy/{task_id}/weight", json={"weight": 60}, timeout=10)
    assert weight.status_code == 202, weight.text
    wait_weight(service, task_id, 60)
    during = load.all()
    assert 3.0 in {s.value for s in during[-200:]}
    assert candidate_weight(service, "const") == [(3, 60)]
    rollback = requests.post(f"{service.url}/deploy/{task_id}/rollback", timeout=10)
    assert rollback.status_code == 202, rollback.text
    ended = wait_task(service, "deploy", task_id)
    finished = time.time()
    time.sleep(1.5)
    samples = load.stop()
    assert ended["status"] == "canceled" and "Rolled back by" in ended["detail"], ended
    assert [s["name"] for s in ended["metadata"]["steps"]][-3:] == ["canary 20%", "canary 60%", "rollback"]
    assert not [s for s in samples if s.error], [s for s in samples if s.error][:3]
    assert all(s.value == 2.0 for s in samples if s.sent > finished)
    assert served(service, "const") == [2] and candidate_weight(service, "const") == [(None, 0)]
    events = service.query("SELECT action FROM access_auditevent WHERE object_id = ?", (task_id,))
    assert {"set_deployment_weight", "rollback_deployment"} <= {e["action"] for e in events}


def test_automatic_analysis_promotes_a_healthy_candidate_through_every_step(
    service: LiveService, tmp_path: Path
) -> None:
    v4 = register(service, ir_zip(build_constant_model(4.0), tmp_path), name="const", version="4")
    load = LoadGenerator(service.url, "const", threads=4).start()
    task_id = deploy(
        service, v4, strategy="canary", steps=[25, 50, 100], step_seconds=1,
        analysis={"min_requests": 20, "max_p99_ratio": 10},
    )  # fmt: skip
    done = wait_task(service, "deploy", task_id, timeout=90)
    samples = load.stop()
    assert done["status"] == "done", done
    decisions = [(entry["step"], entry["outcome"]) for entry in done["metadata"]["analysis"]]
    assert [d for d in decisions if d[1] != "wait"] == [(25, "pass"), (50, "pass"), (100, "pass")], decisions
    assert not [s for s in samples if s.error], [s for s in samples if s.error][:3]
    assert served(service, "const") == [4]


def test_automatic_analysis_rolls_back_a_candidate_failing_30_percent_within_one_step(
    service: LiveService, tmp_path: Path
) -> None:
    # The stable version takes any batch size; the candidate only batch 1, and 30 % of the clients send batch 2.
    stable = register(
        service, ir_zip(build_constant_model(1.0, shape=(-1, 4)), tmp_path), name="batchy", version="1"
    )
    broken = register(
        service, ir_zip(build_constant_model(2.0, shape=(1, 4)), tmp_path), name="batchy", version="2"
    )
    assert wait_task(service, "deploy", deploy(service, stable))["status"] == "done"
    stop = threading.Event()
    answers: list[tuple[int, int]] = []  # (batch, status)

    def loop(index: int) -> None:
        session = requests.Session()
        sent = 0
        while not stop.is_set():
            batch = 2 if sent % 10 < 3 else 1
            body = {
                "inputs": [
                    {"name": "input", "shape": [batch, 4], "datatype": "FP32", "data": [0.0] * 4 * batch}
                ]
            }
            answers.append(
                (
                    batch,
                    session.post(f"{service.url}/v2/models/batchy/infer", json=body, timeout=10).status_code,
                )
            )
            sent += 1

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(4)]
    for thread in threads:
        thread.start()
    task_id = deploy(service, broken, strategy="canary", steps=[50, 100], step_seconds=1,
                     analysis={"min_requests": 30})  # fmt: skip
    ended = wait_task(service, "deploy", task_id, timeout=90)
    time.sleep(1.0)
    stop.set()
    for thread in threads:
        thread.join(15)
    assert ended["status"] == "failed", ended
    assert ended["detail"].startswith("Automatic rollback at 50%: failure rate"), ended["detail"]
    last = ended["metadata"]["analysis"][-1]
    assert last["outcome"] == "fail" and 0.2 < last["candidate"]["failure_rate"] < 0.4, last
    assert last["stable"]["failure_rate"] == 0.0
    assert [s["name"] for s in ended["metadata"]["steps"]][-2:] == ["canary 50%", "rollback"]
    assert served(service, "batchy") == [1] and candidate_weight(service, "batchy") == [(None, 0)]
    assert {status for batch, status in answers if batch == 1} == {200}  # batch 1 works on both versions
    assert {status for batch, status in answers[-50:]} == {200}  # after the rollback, everything works again
    events = service.query(
        "SELECT action FROM access_auditevent WHERE action IN ('canary_analysis', 'rollback')"
    )
    assert {"canary_analysis", "rollback"} <= {e["action"] for e in events}


def test_a_shadow_never_changes_what_clients_see_and_its_copies_are_counted(
    service: LiveService, tmp_path: Path
) -> None:
    # A candidate whose input has another name: every copy fails there; the clients never notice.
    failing = register(
        service, ir_zip(build_constant_model(9.0, name="other"), tmp_path), name="const", version="9"
    )
    task_id = deploy(service, failing, strategy="shadow", weight=100)
    wait_weight(service, task_id, 100)
    values = infer_values(service, 300)
    assert set(values) == {4.0}
    time.sleep(1.0)  # metrics are flushed twice a second
    stats = requests.get(f"{service.url}/v2/models/const/versions/9/stats", timeout=10).json()
    inference = stats["model_stats"][0]["inference_stats"]
    assert int(inference["fail"]["count"]) > 100, stats  # shadow copies are in the candidate's statistics
    metrics = requests.get(f"{service.url}/metrics", timeout=10).text
    assert 'modelhub_shadow_copies{name="const",outcome="failed",version="9"}' in metrics
    # A healthy shadow: copies succeed and their answers are compared (they differ: 5.0 against 4.0).
    assert requests.post(f"{service.url}/deploy/{task_id}/rollback", timeout=10).status_code == 202
    assert wait_task(service, "deploy", task_id)["status"] == "canceled"
    healthy = register(service, ir_zip(build_constant_model(5.0), tmp_path), name="const", version="10")
    task_id = deploy(service, healthy, strategy="shadow", weight=50)
    wait_weight(service, task_id, 50)
    assert set(infer_values(service, 300)) == {4.0}
    time.sleep(1.0)
    stats = requests.get(f"{service.url}/v2/models/const/versions/10/stats", timeout=10).json()
    assert 100 < int(stats["model_stats"][0]["inference_stats"]["success"]["count"]) < 200, stats
    assert 'outcome="different",version="10"' in requests.get(f"{service.url}/metrics", timeout=10).text
    assert requests.post(f"{service.url}/deploy/{task_id}/rollback", timeout=10).status_code == 202
    assert wait_task(service, "deploy", task_id)["status"] == "canceled"


def test_worker_killed_mid_canary_fails_the_task_and_the_weight_goes_back_to_0(
    service: LiveService, tmp_path: Path
) -> None:
    v1 = register(service, ir_zip(build_constant_model(4.0), tmp_path), name="crash", version="1")
    v11 = register(service, ir_zip(build_constant_model(11.0), tmp_path), name="crash", version="11")
    assert wait_task(service, "deploy", deploy(service, v1))["status"] == "done"
    load = LoadGenerator(service.url, "crash", threads=4).start()
    task_id = deploy(service, v11, strategy="canary", weight=30)
    wait_weight(service, task_id, 30)
    service.kill_worker()
    try:
        deadline = time.monotonic() + 30
        task = requests.get(f"{service.url}/deploy/{task_id}", timeout=10).json()
        while task["status"] == "processing":
            assert time.monotonic() < deadline, task
            time.sleep(0.5)
            task = requests.get(f"{service.url}/deploy/{task_id}", timeout=10).json()
        reaped = time.time()
        time.sleep(1.5)
        samples = load.stop()
    finally:
        service.start_worker()
    assert task["status"] == "failed" and "worker" in task["detail"] and "back to 0" in task["detail"], task
    assert candidate_weight(service, "crash") == [(None, 0)] and served(service, "crash") == [1]
    assert not [s for s in samples if s.error], [s for s in samples if s.error][:3]
    assert {s.value for s in samples} == {4.0, 11.0}
    # every process reads the undone split within a reconcile period (0.5 s)
    assert all(s.value == 4.0 for s in samples if s.sent > reaped + 1.0)


def test_the_deploy_and_canary_commands_drive_a_canary_to_promotion(
    service: LiveService, tmp_path: Path
) -> None:
    v1 = register(service, ir_zip(build_constant_model(1.0), tmp_path), name="cmd", version="1")
    v2 = register(service, ir_zip(build_constant_model(2.0), tmp_path), name="cmd", version="2")
    service.manage("deploy", v1, "--drain", "0")
    started = service.manage("deploy", v2, "--strategy", "canary", "--weight", "20", "--drain", "0")
    assert "Holding 20%" in started.stdout, started.stdout
    task_id = started.stdout.split("Deployment task ")[1].split(":")[0]
    weight = service.manage("canary", "weight", task_id, "40")
    assert "Holding 40%" in weight.stdout and "canary 40%" in weight.stdout, weight.stdout
    promoted = service.manage("canary", "promote", task_id)
    assert "promoted by" in promoted.stdout and "done: Model" in promoted.stdout, promoted.stdout
    refused = service.manage("canary", "rollback", task_id, check=False)
    assert refused.returncode != 0 and "done, not a running canary" in refused.stderr, refused.stderr
    assert served(service, "cmd") == [2]


def test_a_canary_is_canceled_like_a_deployment_and_blocks_a_second_one(
    service: LiveService, tmp_path: Path
) -> None:
    v1 = register(service, ir_zip(build_constant_model(1.0), tmp_path), name="cancel", version="1")
    v2 = register(service, ir_zip(build_constant_model(2.0), tmp_path), name="cancel", version="2")
    v3 = register(service, ir_zip(build_constant_model(3.0), tmp_path), name="cancel", version="3")
    assert wait_task(service, "deploy", deploy(service, v1))["status"] == "done"
    task_id = deploy(service, v2, strategy="shadow", weight=50)
    wait_weight(service, task_id, 50)
    second = requests.post(f"{service.url}/deploy", json={"model_id": v3}, timeout=10)
    assert second.status_code == 409 and "already processing" in second.json()["detail"], second.text
    assert requests.post(f"{service.url}/deploy/{task_id}/cancel", timeout=10).status_code == 200
    ended = wait_task(service, "deploy", task_id)
    assert ended["status"] == "canceled" and "previous version kept serving" in ended["detail"], ended
    assert served(service, "cancel") == [1] and candidate_weight(service, "cancel") == [(None, 0)]
