"""An API key never shows up in a log line or a response: not when it works, not when it is wrong, revoked
or lacks the scope (as tests/geti/test_token_never_leaks.py proves for the Geti token)."""

import logging

import pytest
from rest_framework.test import APIClient

from access.keys import key_create, key_revoke

pytestmark = pytest.mark.django_db


def test_keys_are_never_logged_or_returned(auth_mode, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    auth_mode("all")
    reader = key_create(name="reader", scopes=["read"])
    revoked = key_create(name="gone", scopes=["admin"])
    key_revoke(key_id=revoked.key.pk)
    wrong = reader.secret[:-2] + "xx"
    api = APIClient()
    calls = [
        (reader.secret, "get", "/models"),
        (reader.secret, "post", "/deploy"),
        (reader.secret, "get", "/v1/config"),
        (revoked.secret, "get", "/models"),
        (wrong, "get", "/models"),
        (wrong, "get", "/v2"),
    ]
    responses = [
        getattr(api, method)(path, {}, format="json", HTTP_AUTHORIZATION=f"Bearer {secret}")
        for secret, method, path in calls
    ]
    assert [r.status_code for r in responses] == [200, 403, 403, 401, 401, 401]
    texts = [r.content.decode() + str(r.headers) for r in responses]
    logs = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert "Forbidden" in logs or "Unauthorized" in logs  # the refusals were logged
    for secret in (reader.secret, revoked.secret, wrong):
        tail = secret.split(".", 1)[1]
        assert not any(tail in text for text in texts)
        assert tail not in logs
