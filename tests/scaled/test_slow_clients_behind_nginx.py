"""Slow and oversized requests through the nginx recipe (deploy/nginx/modelhub.conf) in front of a replica: the
bounds hold with the front as without it (tests/config/test_http_limits_live.py), issue 24 point 2."""

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import services
from tests.live import LiveService, live_service

pytestmark = [pytest.mark.live, pytest.mark.scaled]

BODY_IDLE = 2.0


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[services.Nginx, LiveService]]:
    root = tmp_path_factory.mktemp("slow-clients")
    env = {"MODELHUB_AUTH": "off", "MODELHUB_BODY_IDLE_TIMEOUT_SECONDS": str(BODY_IDLE)}
    with live_service(root / "data", with_worker=False, env=env) as replica:
        with services.nginx(root / "nginx", [f"127.0.0.1:{replica.port}"]) as nginx:
            yield nginx, replica


def exchange(port: int, data: bytes, *, timeout: float = 40) -> tuple[bytes, float]:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return answer, time.monotonic() - started


def test_an_oversized_header_block_is_refused_by_the_front(front):
    nginx, _ = front
    answer, took = exchange(
        nginx.port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"
    )
    assert answer.split(b" ", 2)[1] in (b"400", b"414", b"431"), answer[:200]
    assert took < 10


def test_headers_that_never_complete_are_cut_by_the_front(front):
    nginx, _ = front
    answer, took = exchange(nginx.port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1")
    assert not answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert took < 10 + 10  # client_header_timeout 10s, plus slack for a loaded machine


def test_a_stalled_upload_behind_the_front_is_closed_and_its_reservation_released(front):
    nginx, replica = front
    boundary = "slow"
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="m.zip"\r\n'
        "Content-Type: application/zip\r\n\r\nPK"
    ).encode()
    head = (
        f"POST /models HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {32 * 1024**2}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
    ).encode()
    answer, took = exchange(nginx.port, head + part)
    assert answer.startswith(b"HTTP/1.1 408"), answer[
        :300
    ]  # the replica's body idle timeout, passed on by nginx
    assert took < 4 * BODY_IDLE + 10
    staged = Path(replica.data_dir) / "tmp"
    deadline = time.monotonic() + 5
    while list(staged.glob("*.upload.zip")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not list(staged.glob("*.upload.zip"))
