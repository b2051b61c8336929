"""Deeply nested JSON is refused with the family's 422, on every DRF endpoint that takes a JSON body."""

import json

import pytest
from rest_framework.test import APIClient

from config.parsers import MAX_JSON_DEPTH, check_json_depth, json_depth

pytestmark = pytest.mark.django_db


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_json_depth_without_recursion():
    assert json_depth(1) == 0 and json_depth([]) == 1 and json_depth({"a": [{"b": 1}]}) == 3
    assert json_depth(json.loads(nested(900))) == 900
    check_json_depth(json.loads(nested(MAX_JSON_DEPTH)))
    with pytest.raises(ValueError, match="nested deeper"):
        check_json_depth(json.loads(nested(MAX_JSON_DEPTH + 1)))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/models"),
        ("put", "/models/abc"),
        ("post", "/model/update"),
        ("post", "/deploy"),
        ("post", "/delete"),
        ("post", "/projects/p1/geti-models/download"),
    ],
)
@pytest.mark.parametrize(
    "body",
    [nested(1000), nested(100_000), '{"overview": ' + nested(500) + "}"],
    ids=["1000-deep", "100000-deep", "500-deep-field"],
)
def test_deeply_nested_json_is_a_422(method, path, body):
    response = getattr(APIClient(), method)(path, body, content_type="application/json")
    assert response.status_code == 422, response.content
    (error,) = response.json()["detail"]
    assert error["type"] == "json_invalid" and "nested deeper" in error["msg"]


def test_nested_json_text_in_a_form_field_is_refused():
    response = APIClient().post(
        "/models", {"name": "n", "version": "1", "overview": nested(300)}, format="multipart"
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "overview"]


def test_a_body_of_millions_of_tiny_values_is_refused_before_it_is_parsed():
    """10 MiB of `[],` parsed would be ~3.5 million lists (~20x the body in memory); counted, it is refused."""
    import tracemalloc

    body = "[" + "[]," * (4 * 1024**2 // 3) + "[]]"
    client = APIClient()
    tracemalloc.start()
    try:
        response = client.put("/models/abc", body, content_type="application/json")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 422, response.content
    assert "more than" in response.json()["detail"][0]["msg"]
    print(f"{len(body) / 1024**2:.0f} MiB of [],: peak {peak / 1024**2:.1f} MiB of Python allocations")
    assert peak < 10 * len(body), peak  # parsed, it would take ~20x
