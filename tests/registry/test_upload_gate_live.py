"""POST /models on a live server: nothing is read, parsed or reserved before the access decision, and every
per-upload cost has a bound (issue 20 findings 1 and 2, issue 24 points 2 and 3)."""

import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from tests.live import live_service

pytestmark = pytest.mark.live

BOUNDARY = "gate"
HUGE = 15 * 1024**3  # declared (under the 20 GiB upload limit), never sent


def upload_dir(service) -> Path:
    return Path(service.data_dir) / "tmp"


def staged(service) -> list[Path]:
    folder = upload_dir(service)
    return list(folder.glob("*.upload.zip")) if folder.exists() else []


def raw_upload(service, *, length: int, body: bytes = b"", key: str | None = None, wait: float = 10) -> bytes:
    """Send POST /models headers declaring `length` bytes, then `body`; the server's answer (or b"")."""
    head = (
        f"POST /models HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        + (f"Authorization: Bearer {key}\r\n" if key else "")
        + "\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", service.port), timeout=wait) as sock:
        sock.sendall(head + body)
        answer = b""
        try:
            while chunk := sock.recv(65536):  # the refusals close the connection
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return answer


def file_part_start() -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="m.zip"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    ).encode()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    env = {
        "MODELHUB_AUTH": "writes",
        "MODELHUB_UPLOAD_IDLE_TIMEOUT_SECONDS": "1",
        "MODELHUB_UPLOADS_MAX_RESERVED_BYTES": str(64 * 1024**2),
    }
    with live_service(tmp_path_factory.mktemp("gate") / "data", with_worker=False, env=env) as running:
        running.key = running.manage("create_api_key", "uploader", "--scopes", "write").stdout.strip()
        yield running


def test_anonymous_upload_is_refused_before_its_body(service):
    free_before = shutil.disk_usage(service.data_dir).free
    answer = raw_upload(service, length=HUGE, body=file_part_start())
    assert answer.startswith(b"HTTP/1.1 401"), answer
    assert b"Authorization" in answer or b"key" in answer.lower()
    assert not staged(service)
    assert shutil.disk_usage(service.data_dir).free > free_before - 64 * 1024**2  # nothing reserved


def test_a_bad_key_or_a_key_without_write_is_refused_before_its_body(service):
    read_key = service.manage("create_api_key", "reader", "--scopes", "read").stdout.strip()
    assert raw_upload(service, length=HUGE, body=file_part_start(), key="mh_not_a_key").startswith(
        b"HTTP/1.1 401"
    )
    assert raw_upload(service, length=HUGE, body=file_part_start(), key=read_key).startswith(b"HTTP/1.1 403")
    assert not staged(service)


def test_millions_of_parts_are_cut_at_the_field_limit(service):
    parts = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f{index}"\r\n\r\n\r\n'.encode()
        for index in range(5000)
    )
    answer = raw_upload(service, length=len(parts) + 1000, body=parts, key=service.key)
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b"Too many form parts" in answer


def test_reservations_in_flight_are_capped(service):
    answer = raw_upload(service, length=65 * 1024**2, body=file_part_start(), key=service.key)
    assert answer.startswith(b"HTTP/1.1 503"), answer
    assert b"Too many uploads in progress" in answer
    assert not staged(service)


def test_a_stalled_upload_is_closed_and_its_reservation_released(service):
    started = time.monotonic()
    answer = raw_upload(
        service, length=32 * 1024**2, body=file_part_start() + b"PK", key=service.key, wait=20
    )
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < 15
    deadline = time.monotonic() + 5
    while staged(service) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not staged(service)


def test_the_free_space_floor_is_kept(tmp_path):
    floor = shutil.disk_usage(
        tmp_path
    ).total  # any reservation would cross it, whatever others free meanwhile
    env = {"MODELHUB_AUTH": "off", "MODELHUB_DISK_FREE_FLOOR_BYTES": str(floor)}
    with live_service(tmp_path / "data", with_worker=False, env=env) as running:
        answer = raw_upload(running, length=1024**2, body=file_part_start())
        assert answer.startswith(b"HTTP/1.1 507"), answer
        assert b"would leave less than" in answer
        assert not staged(running)


def test_a_normal_upload_still_works(service, tmp_path):
    import requests

    from tests.modelfiles import build_constant_model, ir_zip

    archive = ir_zip(build_constant_model(1.0), tmp_path)
    response = requests.post(
        f"{service.url}/models",
        files={"file": ("m.zip", archive, "application/zip")},
        data={"id": "ok", "name": "ok", "version": "1"},
        headers={"Authorization": f"Bearer {service.key}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    assert os.path.exists(service.data_dir)


def server_rss(service) -> int:
    status = Path(f"/proc/{service.processes['server'].pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) * 1024


def test_a_flood_of_empty_parts_costs_bounded_memory(service):
    """Finding 2: 20 MiB of empty parts once cost ~20x their size in memory; now the parser stops at the limit."""
    part = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f"\r\n\r\n\r\n'.encode()
    flood = part * (20 * 1024**2 // len(part))
    before = server_rss(service)
    head = (
        f"POST /models HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(flood)}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nAuthorization: Bearer {service.key}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", service.port), timeout=30) as sock:
        try:
            sock.sendall(head + flood)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    grown = server_rss(service) - before
    print(f"20 MiB of empty parts: RSS +{grown / 1024**2:.1f} MiB")
    assert grown < 16 * 1024**2


def test_a_chunked_upload_counts_against_the_reservation_cap(service):
    """Without a Content-Length nothing is reserved up front: the bytes written count against the same cap."""
    head = (
        "POST /models HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nAuthorization: Bearer {service.key}\r\n\r\n"
    ).encode()

    def chunk(data: bytes) -> bytes:
        return b"%x\r\n%s\r\n" % (len(data), data)

    block = b"\0" * 1024**2
    with socket.create_connection(("127.0.0.1", service.port), timeout=30) as sock:
        try:
            sock.sendall(head + chunk(file_part_start()))
            for _ in range(80):  # 80 MiB, over the 64 MiB cap of this service
                sock.sendall(chunk(block))
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = raw_answer(sock)
    assert answer.startswith(b"HTTP/1.1 503"), answer[:300]
    deadline = time.monotonic() + 5
    while staged(service) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not staged(service)


def raw_answer(sock: socket.socket) -> bytes:
    answer = b""
    try:
        while data := sock.recv(65536):
            answer += data
    except (TimeoutError, ConnectionResetError):
        pass
    return answer
