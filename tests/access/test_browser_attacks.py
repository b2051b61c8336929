"""With MODELHUB_AUTH=off on loopback, a web page in the operator's browser still cannot drive the API:
foreign Host (DNS rebinding), cross-site state changes (CSRF), foreign WebSocket Origins. Clients that are
not browsers (no Origin) are unaffected."""

import asyncio

import orjson
import pytest
from django.test import Client

from registry.models import Model
from tests.access.test_every_route_has_a_policy import lean_call, ws_connect

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _off(auth_mode) -> None:
    auth_mode("off")


def test_default_allowed_hosts_are_loopback_names(settings) -> None:
    assert "*" not in settings.ALLOWED_HOSTS
    assert {"localhost", "127.0.0.1", "[::1]"} <= set(settings.ALLOWED_HOSTS)


def test_a_foreign_host_is_refused_by_django_and_by_the_lean_path() -> None:
    assert Client(HTTP_HOST="attacker.example").get("/models").status_code == 400
    assert Client(HTTP_HOST="127.0.0.1:8000").get("/models").status_code == 200
    status, body = asyncio.run(lean_call("GET", "/v2/health/live", [(b"host", b"rebound.attacker.example")]))
    assert status == 400 and "Host" in orjson.loads(body)["error"]
    assert asyncio.run(lean_call("GET", "/v2/health/live", []))[0] == 200


def test_a_cross_site_form_post_is_refused() -> None:
    client = Client(HTTP_HOST="127.0.0.1:8000")
    form = {"name": "evil", "version": "1", "source_url": "http://example.com/x.zip"}
    response = client.post("/models", form, HTTP_ORIGIN="http://attacker.example")
    assert response.status_code == 403 and "Cross-site" in response.json()["detail"]
    response = client.post("/models", form, HTTP_SEC_FETCH_SITE="cross-site")
    assert response.status_code == 403
    response = client.post("/models", form, HTTP_ORIGIN="null")  # sandboxed frame, file:// page
    assert response.status_code == 403
    assert not Model.objects.exists()


def test_same_origin_and_non_browser_posts_pass(settings) -> None:
    client = Client(HTTP_HOST="127.0.0.1:8000")
    same = client.post("/deploy", {}, content_type="application/json", HTTP_ORIGIN="http://127.0.0.1:8000")
    assert same.status_code == 422  # reached the view
    assert client.post("/deploy", {}, content_type="application/json").status_code == 422
    other_port = client.post(
        "/deploy", {}, content_type="application/json", HTTP_ORIGIN="http://127.0.0.1:3000"
    )
    assert other_port.status_code == 403  # another local app is another site
    settings.CSRF_TRUSTED_ORIGINS = ["http://127.0.0.1:3000"]
    trusted = client.post("/deploy", {}, content_type="application/json", HTTP_ORIGIN="http://127.0.0.1:3000")
    assert trusted.status_code == 422


def test_cross_site_reads_are_not_refused_here() -> None:
    """GETs change nothing; the browser's same-origin policy keeps their answers from the other page."""
    response = Client(HTTP_HOST="127.0.0.1:8000").get("/models", HTTP_SEC_FETCH_SITE="cross-site")
    assert response.status_code == 200


def test_lean_path_refuses_cross_site_posts_but_not_plain_clients() -> None:
    evil = [(b"origin", b"http://attacker.example")]
    status, body = asyncio.run(lean_call("POST", "/v1/config/reload", evil))
    assert status == 403 and list(orjson.loads(body)) == ["error"]
    status, _ = asyncio.run(lean_call("POST", "/v2/models/m/infer", [(b"sec-fetch-site", b"cross-site")]))
    assert status == 403
    for headers in ([], [(b"origin", b"http://127.0.0.1:8000")]):  # reach the handler (its own 4xx)
        status, body = asyncio.run(lean_call("POST", "/v2/models/m/infer", headers))
        assert status not in (401, 403) and b"Cross-site" not in body


@pytest.mark.django_db(transaction=True)
def test_a_websocket_from_a_foreign_origin_is_refused_before_accept() -> None:
    path = "/deploy/nope/events"
    assert asyncio.run(ws_connect(path, None, origin="http://attacker.example")) == (False, 4403)
    assert asyncio.run(ws_connect(path, None, origin="http://127.0.0.1:8000"))[0] is True
    assert asyncio.run(ws_connect(path, None))[0] is True
