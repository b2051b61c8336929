"""Routes cannot be probed before the access check on Django either (issue 24, point 4): under MODELHUB_AUTH=all a
method a view does not implement answers 401/403 to a caller who may not use the route, and 405 (OVMS's 406 on the
protocol views) only to one who may. The lean path's side is tested live in test_bounds_live.py."""

from collections.abc import Iterator

import pytest
from rest_framework.test import APIClient

from access import keys


@pytest.fixture(autouse=True)
def _all(settings) -> Iterator[None]:  # type: ignore[no-untyped-def]
    settings.MODELHUB_AUTH = "all"
    keys.clear_cache()
    yield
    keys.clear_cache()


def client_with(*scopes: str) -> APIClient:
    client = APIClient()
    if scopes:
        secret = keys.key_create(name=f"probe-{'-'.join(scopes)}", scopes=scopes).secret
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/v2/repository/index", 406),  # a POST-only protocol route: OVMS's 406
        ("get", "/v2/models/x/infer", 406),
        ("patch", "/models", 405),  # an ordinary DRF view: Django's 405
    ],
)
def test_a_method_not_implemented_is_refused_before_it_is_named(method: str, path: str, status: int) -> None:
    anonymous = getattr(APIClient(), method)(path)
    assert anonymous.status_code == 401
    assert getattr(client_with("read", "infer"), method)(path).status_code == status


@pytest.mark.django_db
def test_a_key_without_any_of_the_routes_scopes_gets_403_not_405() -> None:
    assert client_with("infer").get("/v2/repository/models/x/load").status_code == 403  # POST-only, deploy
    assert client_with("deploy").get("/v2/repository/models/x/load").status_code == 406
