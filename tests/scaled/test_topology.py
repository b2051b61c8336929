"""Two server replicas behind nginx, a worker-only host, PostgreSQL, Redis and S3: what an operator runs.

The tests share one topology and run in file order: the outages (PostgreSQL stopped, Redis restarted, the
worker killed) come last.
"""

import hashlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.deployments.loadgen import LoadGenerator
from tests.lifecycle.wsclient import read_frames
from tests.live import LiveService
from tests.modelfiles import build_constant_model, ir_zip
from tests.scaled.conftest import Topology

pytestmark = [pytest.mark.live, pytest.mark.scaled]

IDLE_SOCKET_SECONDS = 60
INFER_BODY = {
    "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.0, 1.0, 2.0, 3.0]}]
}


# --- helpers ------------------------------------------------------------------------------------------------


def register(url: str, archive: bytes, **fields: str) -> str:
    response = requests.post(
        f"{url}/models", files={"file": ("m.zip", archive, "application/zip")}, data=fields, timeout=60
    )
    assert response.status_code == 201, response.text
    return response.text


def wait_until(predicate, timeout: float, what: str, topology: Topology):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except requests.RequestException:
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}{topology.log_tail()}")


def wait_task(url: str, kind: str, task_id: str, topology: Topology, timeout: float = 120) -> dict:
    def final() -> dict | None:
        task = requests.get(f"{url}/{kind}/{task_id}", timeout=10).json()
        return task if task["status"] not in ("pending", "processing") else None

    return wait_until(final, timeout, f"{kind} task {task_id} to end", topology)


def deploy(url: str, model_id: str) -> str:
    response = requests.post(
        f"{url}/deploy", json={"model_id": model_id, "config": {"drain_seconds": 1}}, timeout=10
    )
    assert response.status_code == 201, response.text
    return response.json()["task_id"]


def infer(url: str, model: str = "const") -> float:
    response = requests.post(f"{url}/v2/models/{model}/infer", json=INFER_BODY, timeout=10)
    assert response.status_code == 200, response.text
    return float(response.json()["outputs"][0]["data"][0])


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://")


def manage(topology: Topology, *args: str) -> subprocess.CompletedProcess[str]:
    """A `manage.py` command on the worker host, with the topology's settings."""
    return topology.worker.manage(*args, check=False)


def server_pids(service: LiveService) -> list[int]:
    """The uvicorn processes of one replica: the ones whose parent is the replica's server command."""
    root = service.processes["server"].pid
    children = subprocess.run(["pgrep", "-P", str(root)], capture_output=True, text=True).stdout.split()
    return [root, *(int(pid) for pid in children)]


# --- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[float, bytes]:
    folder = tmp_path_factory.mktemp("archives")
    return {value: ir_zip(build_constant_model(value), folder / str(value)) for value in (1.0, 2.0, 3.0, 4.0)}


@pytest.fixture(scope="module")
def idle_socket(topology: Topology, archives: dict[float, bytes]) -> Iterator[tuple[ClientConnection, float]]:
    """A progress socket through nginx on a model that is never downloaded: no frame after the first.

    Opened before the other tests so that its 60 quiet seconds pass while they run. The client sends no
    pings either: nothing but the server and nginx decides whether it stays open.
    """
    model_id = register(topology.url, archives[1.0], name="idle", version="1")
    with connect(
        f"{ws_url(topology.url)}/model/{model_id}/download/progress",
        proxy=None,
        open_timeout=10,
        ping_interval=None,
    ) as ws:
        first = json.loads(ws.recv(timeout=10))
        assert first["status"] == "UNKNOWN", first
        yield ws, time.monotonic()


# --- registry across replicas ---------------------------------------------------------------------------


def test_register_on_one_replica_read_through_the_other_and_nginx(
    topology: Topology, archives: dict[float, bytes], idle_socket: tuple[ClientConnection, float]
) -> None:
    node_a, node_b = topology.replicas
    archive = archives[1.0]
    model_id = register(node_a.url, archive, name="shared", version="1")

    for url in (node_b.url, topology.url):
        listed = requests.get(f"{url}/models", params={"name": "shared"}, timeout=10).json()
        assert [model["id"] for model in listed] == [model_id]
        whole = requests.get(f"{url}/models/{model_id}/files", timeout=30)
        assert whole.status_code == 200 and whole.content == archive
        part = requests.get(f"{url}/models/{model_id}/files", headers={"Range": "bytes=10-109"}, timeout=30)
        assert part.status_code == 206, part.text
        assert part.content == archive[10:110]
        assert part.headers["Content-Range"] == f"bytes 10-109/{len(archive)}"

    keys = topology.s3.keys(topology.bucket, f"models/{model_id}")
    assert len(keys) == 1, keys
    body = topology.s3.client().get_object(Bucket=topology.bucket, Key=keys[0])["Body"].read()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(archive).hexdigest()
    on_disk = [
        path
        for folder in topology.data_dirs()
        for path in (folder / "artifacts").rglob("*")
        if path.is_file()
    ]
    assert on_disk == []  # the bucket holds it, no node's disk


def test_concurrent_uploads_of_one_id_leave_one_model_whose_file_downloads(
    topology: Topology, archives: dict[float, bytes]
) -> None:
    """Defect 1: the requests that lost the race deleted the winner's object (`models/<id>.zip`)."""
    model_id = "race-model"

    def upload(index: int) -> tuple[int, str]:
        url = topology.replicas[index % 2].url
        response = requests.post(
            f"{url}/models",
            files={"file": ("m.zip", archives[2.0], "application/zip")},
            data={"id": model_id, "name": "race", "version": "1"},
            timeout=120,
        )
        return response.status_code, response.text

    barrier = threading.Barrier(20)

    def together(index: int) -> tuple[int, str]:
        barrier.wait()
        return upload(index)

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(together, range(20)))
    statuses = sorted(status for status, _ in results)
    assert statuses.count(201) == 1 and statuses.count(409) == 19, results

    listed = requests.get(f"{topology.url}/models", params={"name": "race"}, timeout=10).json()
    assert [model["id"] for model in listed] == [model_id]
    for url in (topology.url, *(replica.url for replica in topology.replicas)):
        download = requests.get(f"{url}/models/{model_id}/files", timeout=30)
        assert download.status_code == 200, download.text
        assert download.content == archives[2.0]
    assert len(topology.s3.keys(topology.bucket, f"models/{model_id}")) == 1  # the losers removed theirs
    fsck = manage(topology, "registry_fsck", "--grace-seconds", "0")
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr


# --- serving ----------------------------------------------------------------------------------------------


def test_a_deployment_serves_on_both_replicas(topology: Topology, archives: dict[float, bytes]) -> None:
    v1 = register(topology.url, archives[1.0], name="const", version="1")
    task = wait_task(topology.url, "deploy", deploy(topology.url, v1), topology)
    assert task["status"] == "done", task
    for replica in topology.replicas:
        wait_until(lambda url=replica.url: infer(url) == 1.0, 30, f"v1 on {replica.url}", topology)


def test_green_deployment_under_load_through_nginx_never_fails_and_switches_both_replicas(
    topology: Topology, archives: dict[float, bytes]
) -> None:
    v2 = register(topology.url, archives[2.0], name="const", version="2")
    load = LoadGenerator(topology.url, "const", threads=6).start()
    time.sleep(1.5)
    task = wait_task(topology.url, "deploy", deploy(topology.url, v2), topology)
    done_at = time.time()
    time.sleep(1.5)
    samples = load.stop()
    assert task["status"] == "done", (task["detail"], task["metadata"].get("steps"), topology.log_tail())
    failed = [sample for sample in samples if sample.error]
    assert not failed, failed[:5]
    values = [sample.value for sample in samples]
    assert values[0] == 1.0 and values[-1] == 2.0
    # Once the task is done every replica answers v2 (each switches on its own reconcile, so around the switch
    # two requests sent to different replicas may still see different versions).
    assert {sample.value for sample in samples if sample.sent > done_at} == {2.0}
    for replica in topology.replicas:
        assert infer(replica.url) == 2.0


def test_a_canary_weight_holds_on_both_replicas_and_through_nginx(
    topology: Topology, archives: dict[float, bytes]
) -> None:
    v1 = register(topology.url, archives[1.0], name="split", version="1")
    v2 = register(topology.url, archives[2.0], name="split", version="2")
    assert wait_task(topology.url, "deploy", deploy(topology.url, v1), topology)["status"] == "done"
    response = requests.post(
        f"{topology.url}/deploy",
        json={"model_id": v2, "config": {"strategy": "canary", "weight": 30}},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    task_id = response.json()["task_id"]

    def holding() -> bool:
        task = requests.get(f"{topology.url}/deploy/{task_id}", timeout=10).json()
        assert task["status"] in ("pending", "processing"), task
        return task["metadata"].get("weight") == 30 and task["metadata"].get("current_step") == "canary 30%"

    wait_until(holding, 120, "the canary to hold 30 %", topology)
    time.sleep(1.5)  # every replica reads the weight within a reconcile period

    def share(url: str, count: int = 600) -> float:
        def one(_: int) -> float:
            return infer(url, "split")

        with ThreadPoolExecutor(8) as pool:
            values = list(pool.map(one, range(count)))
        assert set(values) <= {1.0, 2.0}
        return values.count(2.0) / count

    for url in [replica.url for replica in topology.replicas] + [topology.url]:
        assert 0.24 <= share(url) <= 0.36, url  # 600 requests: 3 standard deviations are 5.6 %
    assert requests.post(f"{topology.url}/deploy/{task_id}/rollback", timeout=10).status_code == 202
    assert wait_task(topology.url, "deploy", task_id, topology)["status"] == "canceled"
    time.sleep(1.5)
    for replica in topology.replicas:
        assert {infer(replica.url, "split") for _ in range(50)} == {1.0}


# --- node-local work (download, delete) -----------------------------------------------------------------


def node_has_files(service: LiveService, name: str, version: str = "1") -> bool:
    folder = service.data_dir / "models" / name / version
    return folder.is_dir() and any(path.is_file() for path in folder.rglob("*"))


def test_download_puts_the_model_on_every_serving_node_and_delete_removes_it_everywhere(
    topology: Topology, archives: dict[float, bytes]
) -> None:
    node_a, node_b = topology.replicas
    model_id = register(topology.url, archives[3.0], name="local", version="1")
    response = requests.post(f"{node_a.url}/model/{model_id}/download", timeout=10)
    assert response.status_code == 200, response.text
    with connect(
        f"{ws_url(node_b.url)}/model/{model_id}/download/progress", proxy=None, open_timeout=10
    ) as ws:
        progress = read_frames(ws, timeout=60)
    assert progress.statuses[-1] == "COMPLETED", progress.frames
    percentages = [frame["percentage"] for frame in progress.frames]
    assert percentages == sorted(percentages), percentages  # never goes back within one download
    for replica in topology.replicas:
        snapshot = requests.get(f"{replica.url}/model/{model_id}", timeout=10).json()
        assert snapshot["downloaded"] is True, (replica.url, snapshot)
        assert node_has_files(replica, "local"), replica.data_dir
    loaded = requests.post(f"{node_b.url}/model/{model_id}/load", timeout=90)
    assert loaded.status_code == 200, loaded.text
    for replica in topology.replicas:
        assert infer(replica.url, "local") == 3.0
    assert requests.post(f"{node_a.url}/model/{model_id}/unload", timeout=60).status_code == 200

    response = requests.post(f"{node_a.url}/delete", json={"model_id": model_id}, timeout=10)
    assert response.status_code == 201, response.text
    task = wait_task(topology.url, "delete", response.json()["task_id"], topology)
    assert task["status"] == "done", task
    for replica in topology.replicas:
        wait_until(
            lambda r=replica: not node_has_files(r, "local"), 30, f"files gone on {replica.url}", topology
        )
    assert len(topology.s3.keys(topology.bucket, f"models/{model_id}")) == 1  # still in the registry


# --- sockets ---------------------------------------------------------------------------------------------


def test_an_idle_progress_socket_through_nginx_stays_open(
    topology: Topology, idle_socket: tuple[ClientConnection, float]
) -> None:
    ws, opened = idle_socket
    remaining = IDLE_SOCKET_SECONDS - (time.monotonic() - opened)
    try:
        ws.recv(timeout=max(remaining, 0.5))
    except TimeoutError:
        pass  # still open, nothing sent: what a client that waits for hours gets
    except ConnectionClosed as closed:
        pytest.fail(f"closed after {time.monotonic() - opened:.1f} s: {closed!r}")
    else:
        pytest.fail("a frame arrived on a socket of a model nobody downloads")
    ws.send(json.dumps({}))  # any message is answered with the current state
    assert json.loads(ws.recv(timeout=10))["status"] == "UNKNOWN"


# --- outages --------------------------------------------------------------------------------------------


def test_postgres_down_for_10_s_health_503_inference_unaffected_then_back(topology: Topology) -> None:
    before = infer(topology.url)
    load = LoadGenerator(topology.url, "const", threads=2).start()
    topology.postgres.stop()
    stopped = time.monotonic()
    health: dict[str, set[int]] = {replica.url: set() for replica in topology.replicas}
    try:
        while time.monotonic() - stopped < 10:
            for replica in topology.replicas:
                try:
                    health[replica.url].add(requests.get(f"{replica.url}/health", timeout=5).status_code)
                except requests.RequestException as exc:
                    health[replica.url].add(-1)
                    print(exc, file=sys.stderr)
            time.sleep(0.5)
    finally:
        topology.postgres.start()
    restarted = time.monotonic()
    wait_until(
        lambda: requests.get(f"{topology.url}/models", timeout=5).status_code == 200,
        20,
        "listing back",
        topology,
    )
    for replica in topology.replicas:
        wait_until(
            lambda r=replica: requests.get(f"{r.url}/health", timeout=5).status_code == 200,
            20,
            f"{replica.url}/health back",
            topology,
        )
    back_after = time.monotonic() - restarted
    samples = load.stop()
    assert all(codes == {503} for codes in health.values()), health
    failed = [sample for sample in samples if sample.error]
    assert not failed, failed[:5]
    assert {sample.value for sample in samples} == {before}
    assert back_after < 20


def test_redis_restart_sockets_and_tasks_recover(topology: Topology, archives: dict[float, bytes]) -> None:
    topology.redis.stop()
    topology.redis.start()  # same port, empty: every subscription is gone
    v3 = register(topology.url, archives[3.0], name="const", version="3")
    task_id = deploy(topology.url, v3)
    with connect(f"{ws_url(topology.url)}/deploy/{task_id}/events", proxy=None, open_timeout=10) as ws:
        events = read_frames(ws, timeout=120)
    assert events.frames and events.frames[-1]["status"] == "done", events.frames[-3:]
    model_id = register(topology.url, archives[4.0], name="after-redis", version="1")
    requests.post(f"{topology.url}/model/{model_id}/download", timeout=10).raise_for_status()
    with connect(
        f"{ws_url(topology.url)}/model/{model_id}/download/progress", proxy=None, open_timeout=10
    ) as ws:
        progress = read_frames(ws, timeout=60)
    assert progress.statuses[-1] == "COMPLETED", progress.frames
    for replica in topology.replicas:
        assert infer(replica.url) == 3.0


def test_worker_killed_mid_deployment_ends_failed_with_every_step_closed(
    topology: Topology, archives: dict[float, bytes]
) -> None:
    node_a, node_b = topology.replicas
    v4 = register(node_a.url, archives[4.0], name="const", version="4")
    paused = server_pids(node_b)
    for pid in paused:  # node b cannot load v4: the deployment waits in warm-up
        subprocess.run(["kill", "-STOP", str(pid)], check=True)
    try:
        task_id = deploy(node_a.url, v4)
        wait_until(
            lambda: (
                requests.get(f"{node_a.url}/deploy/{task_id}", timeout=10)
                .json()["metadata"]
                .get("current_step")
                == "warm-up"
            ),
            30,
            "the warm-up step",
            topology,
        )
        topology.worker.kill_worker()
    finally:
        for pid in paused:
            subprocess.run(["kill", "-CONT", str(pid)], check=True)
    task = wait_task(node_a.url, "deploy", task_id, topology, timeout=60)
    topology.worker.start_worker()
    assert task["status"] == "failed" and task["detail"], task
    steps = task["metadata"].get("steps", [])
    assert steps, task
    assert not [step for step in steps if step["status"] == "running"], steps
    assert infer(node_a.url) == 3.0 and infer(node_b.url) == 3.0  # the old version keeps serving
