"""A real server under MODELHUB_AUTH=writes, probed as the outside review did (issues 20 and 24): forwarded
headers, the admin lockout, what anonymous readers see, what reaches the log."""

import re

import pytest
import requests

from tests.live import LiveService, live_service

pytestmark = pytest.mark.live

ADMIN_PASSWORD = "a-long-right-password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    env = {
        "MODELHUB_AUTH": "writes",
        "MODELHUB_KEY_CACHE_SECONDS": "1",
        "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
    }
    with live_service(tmp_path_factory.mktemp("hardening"), with_worker=False, env=env) as service:
        service.manage("createsuperuser", "--noinput", "--username", "root", "--email", "root@example.com")
        yield service


def admin_login(server: LiveService, password: str, *, forwarded_for: str | None = None) -> int:
    session = requests.Session()
    login = f"{server.url}/admin/login/?next=/admin/"
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', session.get(login).text)
    assert token is not None
    headers = {"Referer": login}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    response = session.post(
        login,
        data={"username": "root", "password": password, "csrfmiddlewaretoken": token.group(1)},
        headers=headers,
        allow_redirects=False,
    )
    return response.status_code


def test_rotating_x_forwarded_for_does_not_escape_the_admin_lockout(server: LiveService) -> None:
    """Finding 5 / point 6: the peer (127.0.0.1) is no configured proxy, so X-Forwarded-For is ignored; and the
    lockout counts the user name on its own, whatever address the failures come from."""
    statuses = [admin_login(server, "wrong", forwarded_for=f"203.0.113.{n}") for n in range(1, 8)]
    assert statuses[:4] == [200] * 4 and set(statuses[4:]) == {429}, statuses
    assert admin_login(server, ADMIN_PASSWORD, forwarded_for="198.51.100.99") == 429
    rows = server.query("SELECT ip_address, username FROM axes_accessattempt")
    assert {row["ip_address"] for row in rows} == {"127.0.0.1"}, rows
