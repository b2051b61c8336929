"""Plain Django views obey the same policy through AccessPolicyMiddleware; one without a policy is refused."""

import pytest
from django.test import Client

from access.keys import key_create

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.access.plain_views")]


def test_a_plain_view_without_a_policy_is_refused_in_every_mode(auth_mode) -> None:
    for mode in ("off", "writes", "all"):
        auth_mode(mode)
        response = Client().get("/undeclared")
        assert response.status_code == 403 and "secret" not in response.content.decode()


def test_a_declared_plain_view_is_enforced(auth_mode) -> None:
    auth_mode("writes")
    client = Client()
    assert client.get("/declared").status_code == 200
    refused = client.post("/declared", HTTP_AUTHORIZATION="")
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    reader = key_create(name="r", scopes=["read"]).secret
    assert client.post("/declared", HTTP_AUTHORIZATION=f"Bearer {reader}").status_code == 403
    deployer = key_create(name="d", scopes=["deploy"]).secret
    assert (
        Client(enforce_csrf_checks=False)
        .post("/declared", HTTP_AUTHORIZATION=f"Bearer {deployer}")
        .status_code
        == 200
    )
    assert client.get("/declared-class").status_code == 401
    writer = key_create(name="w", scopes=["write"]).secret
    assert client.get("/declared-class", HTTP_AUTHORIZATION=f"Bearer {writer}").status_code == 200
