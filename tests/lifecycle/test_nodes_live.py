"""Node-local work on two nodes (inference/lifecycle/nodes.py): two server processes with their own data
folders (own model caches) share one database and one artifact folder; only node A runs a worker.

A download asked of either node lands in both caches and its progress socket (on the other node) ends only
when both have it; load works on both; POST /delete and deleting the model empty both caches; a node that was
down catches up when it comes back.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.inference.conftest import register
from tests.lifecycle.wsclient import open_progress, read_frames
from tests.live import LiveService, topology_env
from tests.modelfiles import build_constant_model, ir_zip

pytestmark = pytest.mark.live

STALE_SECONDS = 3


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[LiveService, LiveService]]:
    shared = {
        "MODELHUB_SQLITE_PATH": str(tmp_path / "shared.sqlite3"),
        "MODELHUB_ARTIFACTS_DIR": str(tmp_path / "shared-artifacts"),
        "MODELHUB_STALE_PROCESS_SECONDS": str(STALE_SECONDS),
        "DJANGO_SECRET_KEY": "the same on every node (signs django-q2 tasks)",
    }
    # Under `make test-scaled` both nodes share one database, Redis database and bucket prefix of the topology.
    shared.update(topology_env())
    a = LiveService(tmp_path / "a", env={**shared, "MODELHUB_NODE_NAME": "node-a"}, isolate=False)
    b = LiveService(
        tmp_path / "b", with_worker=False, env={**shared, "MODELHUB_NODE_NAME": "node-b"}, isolate=False
    )
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        b.stop()
        a.stop()


def cached_versions(service: LiveService) -> list[Path]:
    return sorted(path.parent for path in (service.data_dir / "models").glob("*/*/.modelhub-complete"))


def snapshot(service: LiveService, model_id: str) -> dict:
    response = requests.get(f"{service.url}/model/{model_id}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(predicate, what: str, *services: LiveService, timeout: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}" + "".join(s.log_tail() for s in services))


def test_download_load_delete_and_catch_up_on_two_nodes(nodes, tmp_path):
    a, b = nodes
    model_id = register(a, ir_zip(build_constant_model(3.0), tmp_path), model_id="shared", name="shared")
    wait_for(lambda: len(snapshot(b, model_id)["download"]["nodes"]) == 0, "snapshot", a, b)

    with open_progress(b.url, model_id) as ws:
        read_frames(ws, count=1, timeout=10)
        started = requests.post(f"{a.url}/model/{model_id}/download", timeout=10)
        assert started.status_code == 200, started.text
        progress = read_frames(ws, timeout=60)
    assert progress.close_code == 1000 and progress.last["status"] == "COMPLETED", progress.frames
    assert {(n["node"], n["status"]) for n in progress.last["nodes"]} == {
        ("node-a", "COMPLETED"),
        ("node-b", "COMPLETED"),
    }
    percentages = [frame["percentage"] for frame in progress.frames]
    assert percentages == sorted(percentages), percentages  # never goes back
    # both caches hold the model: each node's server unpacked it into its own folder
    assert [p.relative_to(a.data_dir) for p in cached_versions(a)] == [Path("models/shared/1")]
    assert [p.relative_to(b.data_dir) for p in cached_versions(b)] == [Path("models/shared/1")]
    for service in (a, b):
        body = snapshot(service, model_id)
        assert body["downloaded"] is True and not body["downloading"]

    loaded = requests.post(
        f"{b.url}/model/{model_id}/load", timeout=90
    )  # no 409 on the node that was not asked
    assert loaded.status_code == 200 and loaded.json()["loaded"], loaded.text

    deletion = requests.post(f"{b.url}/delete", json={"model_id": model_id}, timeout=10)
    assert deletion.status_code == 201, deletion.text
    task_url = f"{b.url}/delete/{deletion.json()['task_id']}"
    task = wait_for(
        lambda: (t := requests.get(task_url, timeout=10).json())["status"] in ("done", "failed", "refused") and t,
        "the delete task", a, b,
    )  # fmt: skip
    assert task["status"] == "done", task
    wait_for(lambda: not cached_versions(a) and not cached_versions(b), "both caches to be emptied", a, b)
    assert snapshot(a, model_id)["downloaded"] is False

    # node B goes away; a download completes on A alone; B catches up when it comes back
    b.stop()
    wait_for(
        lambda: [n["node"] for n in snapshot(a, model_id)["download"]["nodes"]] in ([], ["node-a"]),
        "B gone",
        a,
    )
    time.sleep(STALE_SECONDS + 1)
    requests.post(f"{a.url}/model/{model_id}/download", timeout=10).raise_for_status()
    body = wait_for(lambda: (s := snapshot(a, model_id))["downloaded"] and s, "A alone", a)
    assert [n["node"] for n in body["download"]["nodes"]] == ["node-a"]
    assert cached_versions(a) and not cached_versions(b)
    b.start_server()
    wait_for(lambda: cached_versions(b), "B to catch up", a, b)
    body = wait_for(lambda: (s := snapshot(b, model_id))["downloaded"] and s, "downloaded on both", a, b)
    assert {n["node"] for n in body["download"]["nodes"]} == {"node-a", "node-b"}

    # deleting the model from the registry removes its files from every node
    assert requests.delete(f"{a.url}/models/{model_id}", timeout=10).status_code == 204
    wait_for(lambda: not cached_versions(a) and not cached_versions(b), "caches emptied after DELETE", a, b)
