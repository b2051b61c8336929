"""The lifecycle across real processes: two uvicorn server processes, a django-q2 worker, a slow HTTP source,
and a WebSocket client; with the default in-memory channel layer (progress crosses processes by the database)."""

import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.lifecycle.conftest import model_zip, sha256_of
from tests.lifecycle.fileserver import FileServer, Served
from tests.lifecycle.wsclient import open_progress, read_frames
from tests.live import LiveService, live_service

pytestmark = pytest.mark.live

ENV = {
    "MODELHUB_DOWNLOAD_READ_TIMEOUT": "1",
    "MODELHUB_DOWNLOAD_RETRIES": "1",
    "MODELHUB_DOWNLOAD_STALE_SECONDS": "3",
    "MODELHUB_SOURCE_URL_ALLOW": "127.0.0.1",  # the test file server
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    with live_service(tmp_path_factory.mktemp("lifecycle-live"), workers=2, env=ENV) as service:
        yield service


@pytest.fixture(scope="module")
def source() -> Iterator[FileServer]:
    server = FileServer().start()
    yield server
    server.stop()


def register_url(live: LiveService, url: str, *, sha256: str | None = None, name: str | None = None) -> str:
    body = {"name": name or f"remote-{uuid.uuid4().hex[:8]}", "version": "1", "source_url": url}
    if sha256:
        body["sha256"] = sha256
    response = requests.post(f"{live.url}/models", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.text


def upload(live: LiveService, archive: bytes, name: str) -> str:
    response = requests.post(
        f"{live.url}/models",
        data={"name": name, "version": "1"},
        files={"file": ("m.zip", archive)},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.text


def snapshot(live: LiveService, model_id: str) -> dict:
    response = requests.get(f"{live.url}/model/{model_id}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def download(live: LiveService, model_id: str) -> dict:
    response = requests.post(f"{live.url}/model/{model_id}/download", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(predicate, timeout: float, what: str, live: LiveService):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}{live.log_tail()}")


def leftovers(live: LiveService, model_id: str) -> list[Path]:
    folder = live.data_dir / "tmp" / "downloads" / model_id
    return list(folder.iterdir()) if folder.exists() else []


def test_url_download_streams_progress_and_joins_a_second_call(live, source, tmp_path):
    archive = model_zip(tmp_path, padding=1_500_000)
    url = source.serve("/progress.zip", Served(archive, rate=800_000))
    model_id = register_url(live, url, sha256=sha256_of(archive), name="progress")

    with open_progress(live.url, model_id) as ws:
        first = read_frames(ws, count=1, timeout=5)
        assert first.last == {
            "status": "UNKNOWN",
            "percentage": 0.0,
            "bytes_done": 0,
            "bytes_total": 0,
            "phase": "",
            "error": None,
            "nodes": [],
        }
        started = download(live, model_id)
        joined = download(live, model_id)
        assert started["downloading"] and joined["downloading"] and not started["downloaded"]
        progress = read_frames(ws, first, timeout=60)

    assert progress.close_code == 1000, progress.statuses
    assert progress.last["status"] == "COMPLETED" and progress.last["percentage"] == 100.0
    # one bar for the whole download: fetch, then the node's unpack, and it never goes back
    percentages = [frame["percentage"] for frame in progress.frames]
    assert percentages == sorted(percentages), percentages
    fetching = [
        (t, f)
        for t, f in zip(progress.times, progress.frames, strict=True)
        if f["status"] == "IN-PROGRESS" and f["phase"] == "fetch"
    ]
    assert len(fetching) >= 8, progress.frames
    assert fetching[-1][1]["bytes_total"] == len(archive)
    done = [f["bytes_done"] for _, f in fetching]
    assert done == sorted(done)
    gaps = [b[0] - a[0] for a, b in zip(fetching, fetching[1:], strict=False)]
    assert statistics.median(gaps) <= 0.3, gaps
    assert max(gaps) <= 1.0, gaps
    assert len(source.requests_for("/progress.zip")) == 1  # the second call joined the first download

    body = snapshot(live, model_id)
    assert body["downloaded"] and not body["downloading"] and body["bytes"]["value"] == len(archive)
    assert body["unique"] == "progress:1"
    assert (live.data_dir / "models" / "progress" / "1" / "model.xml").exists()
    registered = requests.get(f"{live.url}/models/{model_id}", timeout=10).json()
    assert registered["sha256"] == sha256_of(archive) and registered["file_url"].endswith(
        f"/models/{model_id}/files"
    )
    assert leftovers(live, model_id) == []

    # A late subscriber gets the current (terminal) state at once, then the close.
    with open_progress(live.url, model_id) as ws:
        late = read_frames(ws, timeout=5)
    assert late.statuses == ["COMPLETED"] and late.close_code == 1000


def test_late_subscriber_then_cancel_mid_transfer(live, source, tmp_path):
    archive = model_zip(tmp_path, padding=3_000_000)
    url = source.serve("/cancel.zip", Served(archive, rate=400_000))
    model_id = register_url(live, url, sha256=sha256_of(archive))
    download(live, model_id)
    wait_for(lambda: snapshot(live, model_id)["download"]["bytes_done"] > 300_000, 20, "bytes to flow", live)

    with open_progress(live.url, model_id) as ws:
        subscribed = time.monotonic()
        progress = read_frames(ws, count=1, timeout=5)
        assert time.monotonic() - subscribed < 1
        assert progress.last["status"] == "IN-PROGRESS" and progress.last["bytes_done"] > 300_000
        assert leftovers(live, model_id), "the partial file should be on disk while downloading"

        asked = time.monotonic()
        response = requests.post(f"{live.url}/model/{model_id}/download/cancel", timeout=10)
        answered = time.monotonic() - asked
        read_frames(ws, progress, timeout=10)

    assert response.status_code == 200, response.text
    assert response.json()["download"]["status"] == "CANCELED" and answered < 1.5
    canceled_at = progress.times[progress.statuses.index("CANCELED")]
    assert canceled_at - asked < 1.0
    assert progress.close_code == 1000
    assert leftovers(live, model_id) == []
    assert not (live.data_dir / "models" / snapshot(live, model_id)["unique"].split(":")[0]).exists()
    bytes_seen = progress.frames[-1]["bytes_done"]
    time.sleep(0.5)
    assert snapshot(live, model_id)["download"]["bytes_done"] == bytes_seen  # nothing moves any more

    again = requests.post(f"{live.url}/model/{model_id}/download/cancel", timeout=10)
    assert again.status_code == 409 and "No download" in again.json()["detail"]


def job_row(live: LiveService, model_id: str) -> dict:
    """The job row read straight from the live service's database (no API call, so no reader-side recovery)."""
    return live.query("SELECT * FROM lifecycle_downloadjob WHERE model_id = ?", (model_id,))[0]


def test_worker_killed_mid_download_resumes_with_range_when_a_worker_starts(live, source, tmp_path):
    archive = model_zip(tmp_path, padding=2_500_000)
    served = Served(archive, rate=500_000)
    url = source.serve("/crash.zip", served)
    model_id = register_url(live, url, sha256=sha256_of(archive))
    download(live, model_id)
    wait_for(lambda: job_row(live, model_id)["bytes_done"] > 500_000, 20, "bytes to flow", live)

    live.kill_worker()
    partial = leftovers(live, model_id)
    assert partial and partial[0].stat().st_size > 0
    dead_worker = job_row(live, model_id)["worker"]
    assert job_row(live, model_id)["status"] == "IN-PROGRESS"
    live.start_worker()  # on start it finds the job of a dead process and queues it again (RESET)
    row = wait_for(
        lambda: (r := job_row(live, model_id))["status"] == "COMPLETED" and r, 30, "COMPLETED", live
    )
    assert row["resumes"] == 1 and row["worker"] != dead_worker
    assert "Recovered 1 interrupted download(s) at worker start" in (live.data_dir / "worker.out").read_text()

    ranges = [headers.get("Range", "") for headers in source.requests_for("/crash.zip")]
    assert ranges[0] == "" and ranges[-1].startswith("bytes=") and int(ranges[-1][6:-1]) > 0, ranges
    assert source.requests_for("/crash.zip")[-1]["If-Range"] == served.etag
    # the job fetched it into storage; the node (this server process) unpacks it into its cache after that
    body = wait_for(lambda: (b := snapshot(live, model_id))["downloaded"] and b, 30, "the node's copy", live)
    assert body["downloaded"] and body["bytes"]["value"] == len(archive)
    assert requests.get(f"{live.url}/models/{model_id}", timeout=10).json()["sha256"] == sha256_of(archive)
    assert leftovers(live, model_id) == []


def test_reader_recovers_a_download_whose_worker_died(live, source, tmp_path):
    archive = model_zip(tmp_path, padding=2_000_000)
    url = source.serve("/crash2.zip", Served(archive, rate=500_000))
    model_id = register_url(live, url, sha256=sha256_of(archive))
    with open_progress(live.url, model_id) as ws:
        progress = read_frames(ws, count=1, timeout=5)
        download(live, model_id)
        wait_for(lambda: job_row(live, model_id)["bytes_done"] > 300_000, 20, "bytes to flow", live)
        live.kill_worker()
        # The WebSocket's poller notices the dead worker and queues the job again; a new worker resumes it.
        wait_for(lambda: job_row(live, model_id)["status"] == "RESET", 10, "RESET", live)
        live.start_worker()
        read_frames(ws, progress, timeout=60)
    assert "RESET" in progress.statuses and progress.last["status"] == "COMPLETED", progress.statuses
    assert source.requests_for("/crash2.zip")[-1]["Range"] != "bytes=0-"


def test_failures_are_visible_on_the_socket_and_in_the_snapshot(live, source, tmp_path):
    archive = model_zip(tmp_path)
    cases = {
        "missing": (register_url(live, source.base_url + "/missing.zip"), "404 Not Found"),
        "timeout": (
            register_url(live, source.serve("/hang.zip", Served(archive, hang=True))),
            "read timeout",
        ),
        "checksum": (
            register_url(live, source.serve("/bad.zip", Served(archive)), sha256="0" * 64),
            "sha256 mismatch",
        ),
        "not a zip": (
            register_url(live, source.serve("/text.zip", Served(b"hello, not a zip"))),
            "not a valid ZIP",
        ),
        # 127.0.0.1 is allowed (MODELHUB_SOURCE_URL_ALLOW), 127.0.0.2 is not: the second hop is refused.
        "redirect to a private address": (
            register_url(
                live,
                source.serve(
                    "/hop.zip",
                    Served(b"", redirect_to=f"http://127.0.0.2:{source.httpd.server_address[1]}/bad.zip"),
                ),
            ),
            "public server",
        ),
    }
    sockets = {}
    for name, (model_id, _) in cases.items():
        sockets[name] = open_progress(live.url, model_id)
        download(live, model_id)
    for name, (model_id, reason) in cases.items():
        with sockets[name] as ws:
            progress = read_frames(ws, timeout=30)
        assert progress.last["status"] == "FAILED" and reason in progress.last["error"], (
            name,
            progress.frames,
        )
        assert progress.close_code == 1000
        body = snapshot(live, model_id)
        assert body["download"]["status"] == "FAILED" and reason in body["download"]["error"]
        assert not body["downloaded"] and not body["downloading"]
        assert leftovers(live, model_id) == [] or name in (
            "missing",
            "timeout",
            "redirect to a private address",
        )
    model = requests.get(f"{live.url}/models/{cases['checksum'][0]}", timeout=10).json()
    assert model["file_url"] is None  # nothing was stored


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.2/m.zip",
        "http://10.0.0.1/m.zip",
        "http://[::1]/m.zip",
    ],
)
def test_registration_refuses_internal_source_urls(live, url):
    body = {"name": f"ssrf-{uuid.uuid4().hex[:8]}", "version": "1", "source_url": url}
    response = requests.post(f"{live.url}/models", json=body, timeout=10)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "source_url"] and "MODELHUB_SOURCE_URL_ALLOW" in error["msg"]


def test_websocket_to_an_unknown_model_closes_with_4404(live):
    with open_progress(live.url, "no-such-model") as ws:
        progress = read_frames(ws, timeout=5)
    assert progress.frames == []
    assert progress.close_code == 4404 and "was not found" in progress.close_reason


def test_download_model_command_shows_progress(live, source, tmp_path):
    archive = model_zip(tmp_path, padding=1_000_000)
    model_id = register_url(
        live, source.serve("/cli.zip", Served(archive, rate=1_000_000)), sha256=sha256_of(archive)
    )
    result = live.manage("download_model", model_id, check=False, timeout=60)
    assert result.returncode == 0, result.stderr + live.log_tail()
    assert "Fetching from the source URL" in result.stderr and "100%" in result.stderr
    assert f"Model {model_id}: COMPLETED" in result.stdout
    assert snapshot(live, model_id)["downloaded"]

    inline_id = upload(live, model_zip(tmp_path, padding=10, value=2.0), "cli-inline")
    result = live.manage("download_model", inline_id, "--inline", check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    assert snapshot(live, inline_id)["downloaded"]

    result = live.manage("download_model", "nope", check=False, timeout=60)
    assert result.returncode == 1 and "'nope' was not found" in result.stderr
