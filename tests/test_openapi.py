"""The OpenAPI document is complete and valid, and its Swagger UI / Redoc pages work offline."""

import io
import re

import pytest
import yaml
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db


def test_schema_generates_without_warnings_and_validates(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(out), stderr=io.StringIO())
    schema = yaml.safe_load(out.read_text())
    assert schema["openapi"].startswith("3.")
    for path in ("/health", "/models", "/models/{model_id}", "/models/{model_id}/files"):
        assert path in schema["paths"], path


def test_schema_endpoint_serves_the_document() -> None:
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    body = response.json()
    assert set(body["paths"]["/models"]) >= {"get", "post"}
    assert set(body["paths"]["/models/{model_id}"]) >= {"get", "put", "delete"}


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_their_assets_locally(page: str) -> None:
    client = Client()
    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), (
        "the page must not load anything from a CDN"
    )
    assets = re.findall(r"""(?:src|href)=["']([^"']+\.(?:js|css|png))["']""", html)
    assert assets, html
    for asset in assets:
        asset_response = client.get(asset)
        assert asset_response.status_code == 200, asset
        assert b"".join(
            asset_response.streaming_content if asset_response.streaming else [asset_response.content]
        )
