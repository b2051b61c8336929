"""Uploads through a real server (uvicorn, two processes): streaming, races, body limits, disconnects."""

import hashlib
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.live import LiveService, live_service
from tests.registry.uploads import MultipartStream, write_big_zip

pytestmark = pytest.mark.live

LIMIT = 150 * 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    data = tmp_path_factory.mktemp("registry-live")
    spool = data / "system-tmp"
    spool.mkdir()
    # TMPDIR shows where Django's ASGI handler spools request bodies, so the tests can prove nothing stays there.
    env = {"MODELHUB_MAX_UPLOAD_BYTES": str(LIMIT), "TMPDIR": str(spool)}
    with live_service(data / "data", workers=2, with_worker=False, env=env) as service:
        yield service


def leftovers(server: LiveService) -> dict[str, list[str]]:
    folders = {"upload tmp": server.data_dir / "tmp", "system tmp": server.data_dir.parent / "system-tmp"}
    return {
        "artifacts": server.stored_artifacts(),
        **{
            name: sorted(str(p) for p in folder.rglob("*") if p.is_file()) for name, folder in folders.items()
        },
    }


def wait_until_clean(server: LiveService, expected_artifacts: int = 0, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        found = leftovers(server)
        if (
            len(found["artifacts"]) == expected_artifacts
            and not found["upload tmp"]
            and not found["system tmp"]
        ):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"leftover files: {found}\n{server.log_tail()}")
        time.sleep(0.1)


@pytest.fixture(autouse=True)
def empty_registry(server: LiveService) -> Iterator[None]:
    yield
    for row in requests.get(f"{server.url}/models", timeout=10).json():
        requests.delete(f"{server.url}/models/{row['id']}", timeout=10)


def test_twenty_concurrent_uploads_with_one_id(server: LiveService, tmp_path: Path) -> None:
    from tests.modelfiles import build_constant_model, ir_zip

    archive = ir_zip(build_constant_model(2.0), tmp_path)

    def post(index: int) -> requests.Response:
        return requests.post(
            f"{server.url}/models",
            data={"id": "race", "name": f"race-{index}", "version": "1"},
            files={"file": ("m.zip", archive, "application/zip")},
            timeout=60,
        )

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(post, range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19, [r.text for r in responses]
    assert {r.text for r in responses if r.status_code == 409} == {"Model ID race is already in use."}
    assert [row["id"] for row in requests.get(f"{server.url}/models", timeout=10).json()] == ["race"]
    wait_until_clean(server, expected_artifacts=1)
    assert requests.get(f"{server.url}/models/race/files", timeout=10).content == archive


def test_big_upload_streams_to_storage_and_back(server: LiveService, tmp_path: Path) -> None:
    big = write_big_zip(tmp_path / "big.zip", 120 * 1024 * 1024, extra={"model.onnx": b"onnx"})
    digest = hashlib.sha256()
    with open(big, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    body = MultipartStream({"name": "big", "version": "1", "id": "big"}, big)
    response = requests.post(
        f"{server.url}/models", data=body, headers={"Content-Type": body.content_type}, timeout=300
    )
    assert response.status_code == 201, response.text
    model = requests.get(f"{server.url}/models/big", timeout=10).json()
    assert model["sha256"] == digest.hexdigest()
    assert model["size"] == big.stat().st_size
    assert model["detected_format"] == "onnx"
    wait_until_clean(server, expected_artifacts=1)

    downloaded = hashlib.sha256()
    with requests.get(f"{server.url}/models/big/files", stream=True, timeout=300) as download:
        assert download.headers["Content-Length"] == str(big.stat().st_size)
        for block in download.iter_content(1 << 20):
            downloaded.update(block)
    assert downloaded.hexdigest() == digest.hexdigest()


def _raw_request(server: LiveService, head: str, body: bytes = b"", *, read: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head.encode() + body)
        if not read:
            return b""
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_declared_too_large_upload_is_413_before_the_body_is_sent(server: LiveService) -> None:
    head = (
        "POST /models HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {20 * 1024**3}\r\n\r\n"
    )
    started = time.monotonic()
    answer = _raw_request(server, head)  # no body at all: the answer must not wait for it
    assert time.monotonic() - started < 5
    assert answer.startswith(b"HTTP/1.1 413")
    assert b'"detail":"Request body too large: 21474836480 bytes; the limit is 157286400 bytes."' in answer
    wait_until_clean(server)


def test_chunked_upload_past_the_limit_is_413(server: LiveService) -> None:
    block = b"\x00" * (1 << 20)

    def body() -> Iterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="m.zip"\r\n\r\n'
        for _ in range(LIMIT // len(block) + 2):
            yield block

    try:
        response = requests.post(
            f"{server.url}/models",
            data=body(),
            headers={"Content-Type": "multipart/form-data; boundary=b"},
            timeout=120,
        )
    except requests.ConnectionError:
        pytest.fail("the server should answer 413, not drop the connection")
    assert response.status_code == 413
    assert "the limit is 157286400 bytes" in response.json()["detail"]
    wait_until_clean(server)


def test_interrupted_upload_leaves_no_row_and_no_file(server: LiveService, tmp_path: Path) -> None:
    big = write_big_zip(tmp_path / "part.zip", 20 * 1024 * 1024)
    stream = MultipartStream({"name": "cut", "version": "1", "id": "cut"}, big)
    head = f"POST /models HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {stream.content_type}\r\nContent-Length: {len(stream)}\r\n\r\n"
    sent = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head.encode())
        for block in stream:
            sock.sendall(block)
            sent += len(block)
            if sent > len(stream) // 2:
                break  # the client goes away mid-body
    time.sleep(0.5)
    assert requests.get(f"{server.url}/models/cut", timeout=10).status_code == 404
    wait_until_clean(server)
    # The server is still healthy after the aborted request.
    assert requests.get(f"{server.url}/health", timeout=10).json() == {"status": "ok"}


def test_rejected_archive_through_the_server_leaves_nothing(server: LiveService) -> None:
    response = requests.post(
        f"{server.url}/models",
        data={"name": "bad", "version": "1"},
        files={"file": ("m.zip", b"not a zip" * 400_000, "application/zip")},
        timeout=60,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "file"]
    wait_until_clean(server)


def test_update_bodies_have_the_small_form_limit(server: LiveService) -> None:
    head = f"PUT /models/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {LIMIT}\r\n\r\n"
    answer = _raw_request(server, head)
    assert answer.startswith(b"HTTP/1.1 413")
    wait_until_clean(server)
