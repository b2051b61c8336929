"""Django routes on a live server: a request with a body is refused from its headers (Host, cross-site, the
route's access policy) before Django reads the body (access/asgi_gate.py; issue 20 "go beyond", DESIGN.md 11).

Each request here sends its headers only and declares a body it never sends: without the gate, Django waits
for that body (and would spool up to MODELHUB_MAX_FORM_BYTES of it) before any decision.
"""

import json
import socket
import time

import pytest

from tests.live import LiveService, live_service

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    env = {"MODELHUB_AUTH": "writes", "MODELHUB_BODY_IDLE_TIMEOUT_SECONDS": "20"}
    with live_service(tmp_path_factory.mktemp("gate") / "data", with_worker=False, env=env) as running:
        running.key = running.manage("create_api_key", "writer", "--scopes", "write").stdout.strip()
        yield running


def headers_only(
    service: LiveService, method: str, path: str, *extra: str, host: str = "127.0.0.1"
) -> tuple[bytes, float]:
    """Send a request line and headers declaring a 9 MiB JSON body, none of it; the whole answer (read until the
    server closes the connection) and how long it took."""
    head = "\r\n".join(
        [
            f"{method} {path} HTTP/1.1",
            f"Host: {host}",
            "Content-Type: application/json",
            f"Content-Length: {9 * 1024**2}",
            *extra,
        ]
    )
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", service.port), timeout=15) as sock:
        sock.sendall(head.encode() + b"\r\n\r\n")
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError:
            pass
    return answer, time.monotonic() - started


def detail(answer: bytes) -> str:
    return json.loads(answer.partition(b"\r\n\r\n")[2])["detail"]


def test_an_anonymous_write_is_refused_before_its_body(service):
    answer, took = headers_only(service, "PUT", "/models/some-model")
    assert answer.startswith(b"HTTP/1.1 401"), answer[:300]
    assert b'www-authenticate: bearer realm="modelhub"' in answer.lower()
    assert "Authentication required" in detail(answer)
    assert took < 10  # answered from the headers, not after a body idle timeout


def test_a_json_model_creation_without_a_key_is_refused_before_its_body(service):
    answer, _ = headers_only(service, "POST", "/models")
    assert answer.startswith(b"HTTP/1.1 401"), answer[:300]


def test_a_bad_key_is_refused_before_its_body(service):
    answer, _ = headers_only(service, "PUT", "/models/some-model", "Authorization: Bearer mh_not_a_key")
    assert answer.startswith(b"HTTP/1.1 401"), answer[:300]


def test_a_foreign_host_and_a_cross_site_page_are_refused_before_the_body(service):
    # one recv() could return the headers without the body on a busy machine: read the whole answer
    answer, _ = headers_only(
        service, "PUT", "/models/x", f"Authorization: Bearer {service.key}", host="evil.example"
    )
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert "Invalid Host header" in detail(answer)
    answer, _ = headers_only(
        service, "PUT", "/models/x", "Origin: https://evil.example", f"Authorization: Bearer {service.key}"
    )
    assert answer.startswith(b"HTTP/1.1 403"), answer[:300]
    assert "Cross-site" in detail(answer)


def test_a_permitted_request_still_reaches_the_view_with_its_body(service):
    import requests

    response = requests.put(
        f"{service.url}/models/no-such-model",
        json={"name": "x"},
        headers={"Authorization": f"Bearer {service.key}"},
        timeout=30,
    )
    assert response.status_code == 404, response.text
    anonymous_read = requests.get(f"{service.url}/models", timeout=30)
    assert anonymous_read.status_code == 200, anonymous_read.text
