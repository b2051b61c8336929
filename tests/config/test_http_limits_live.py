"""The HTTP server's own bounds on a live server (config/http_protocol.py): header size and count (issue 20
finding 10), header and body deadlines and connections per client address (issue 24 point 2)."""

import socket
import time
from pathlib import Path

import pytest

from tests.live import LiveService, live_service

pytestmark = pytest.mark.live

HEADER_TIMEOUT = 2.0
BODY_IDLE = 2.0
PER_CLIENT = 6


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    env = {
        "MODELHUB_AUTH": "off",
        "MODELHUB_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        "MODELHUB_BODY_IDLE_TIMEOUT_SECONDS": str(BODY_IDLE),
        "MODELHUB_MAX_CONNECTIONS_PER_CLIENT": str(PER_CLIENT),
    }
    with live_service(tmp_path_factory.mktemp("http-limits") / "data", with_worker=False, env=env) as running:
        yield running


def connect(service: LiveService, timeout: float = 15) -> socket.socket:
    return socket.create_connection(("127.0.0.1", service.port), timeout=timeout)


def read_all(sock: socket.socket) -> bytes:
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return answer


def read_response(sock: socket.socket, buffered: bytearray) -> bytes:
    """One whole response (head and Content-Length body) from `sock`; what follows stays in `buffered`."""
    while b"\r\n\r\n" not in buffered:
        buffered += sock.recv(65536)
    head, _, _ = bytes(buffered).partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(buffered) < len(head) + 4 + length:
        buffered += sock.recv(65536)
    response = bytes(buffered[: len(head) + 4 + length])
    del buffered[: len(response)]
    return response


def rss_bytes(service: LiveService) -> int:
    status = Path(f"/proc/{service.processes['server'].pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def send_quietly(sock: socket.socket, data: bytes) -> None:
    """Send what the server takes: it may answer and close before all of it is sent."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def test_a_huge_header_block_is_refused_with_431_without_being_buffered(service):
    before = rss_bytes(service)
    with connect(service) as sock:
        send_quietly(sock, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        for _ in range(32 * 16):  # 32 MiB of one header value, in 64 KiB writes
            try:
                sock.sendall(b"a" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                break
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    grown = rss_bytes(service) - before
    print(f"32 MiB header block: RSS +{grown / 1024**2:.1f} MiB")
    assert grown < 16 * 1024**2


def test_a_header_block_that_completes_over_the_limit_in_one_read_is_refused(service):
    with connect(service) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


def test_too_many_header_fields_are_refused_with_431(service):
    headers = b"".join(b"X-H%d: 1\r\n" % index for index in range(150))
    with connect(service) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


def test_ordinary_requests_still_pass_on_a_kept_alive_connection(service):
    cookie = b"Cookie: " + b"c" * 16_000 + b"\r\n"
    request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + cookie + b"\r\n"
    with connect(service) as sock:
        buffered = bytearray()
        for _ in range(3):
            sock.sendall(request)
            assert read_response(sock, buffered).startswith(b"HTTP/1.1 200")
        # pipelined: both answered, the body of the first in the same read as the second's headers
        body = b'{"x": 1}'
        post = b"POST /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%s" % (
            len(body),
            body,
        )
        sock.sendall(post + request)
        assert read_response(sock, buffered).startswith(b"HTTP/1.1 404")
        assert read_response(sock, buffered).startswith(b"HTTP/1.1 200")


def test_headers_sent_a_byte_at_a_time_are_cut_at_the_header_timeout(service):
    started = time.monotonic()
    with connect(service) as sock:
        answer = b""
        for byte in b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 100:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.2)
            if time.monotonic() - started > 4 * HEADER_TIMEOUT + 5:
                break
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - started < 4 * HEADER_TIMEOUT + 5


def test_a_connection_that_sends_nothing_is_closed(service):
    started = time.monotonic()
    with connect(service) as sock:
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert HEADER_TIMEOUT <= time.monotonic() - started < 4 * HEADER_TIMEOUT + 5


def test_a_stalled_body_is_closed_at_the_body_idle_timeout(service):
    started = time.monotonic()
    with connect(service) as sock:
        sock.sendall(b"POST /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert BODY_IDLE <= time.monotonic() - started < 4 * BODY_IDLE + 5


def test_connections_per_client_address_are_capped(service):
    held = [connect(service) for _ in range(PER_CLIENT)]
    try:
        with connect(service) as extra:
            answer = read_all(extra)
        assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
        assert b"Too many connections" in answer
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while True:  # the server sees the closes shortly after
        with connect(service) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = sock.recv(65536)
        if answer.startswith(b"HTTP/1.1 200") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


def test_a_large_websocket_message_closes_the_socket(service, tmp_path):
    import requests
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect as ws_connect

    from tests.modelfiles import build_constant_model, ir_zip

    archive = ir_zip(build_constant_model(1.0), tmp_path)
    created = requests.post(
        f"{service.url}/models",
        files={"file": ("m.zip", archive, "application/zip")},
        data={"id": "ws-size", "name": "ws-size", "version": "1"},
        timeout=60,
    )
    assert created.status_code == 201, created.text
    url = f"ws://127.0.0.1:{service.port}/model/ws-size/download/progress"
    with ws_connect(url, open_timeout=10, max_size=None) as socket_:
        socket_.recv(timeout=10)  # the current state
        socket_.send("{}")
        assert socket_.recv(timeout=10)  # a small message is answered
    with ws_connect(url, open_timeout=10, max_size=None) as socket_:
        socket_.recv(timeout=10)
        with pytest.raises(ConnectionClosed) as closed:
            socket_.send("[" + "[]," * 400_000 + "[]]")  # 1.2 MiB, over the 64 KiB default
            for _ in range(50):
                socket_.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
