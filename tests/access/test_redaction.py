"""Query strings and userinfo of URLs are secrets for every caller below `write` (issue 24, point 1)."""

import pytest

from access.policy import ANONYMOUS, Principal, current_principal
from access.redaction import redact_text, redact_url, source_url_for_caller

SIGNED = "https://user:pw@bucket.example/m.zip?X-Amz-Signature=abc#part"


def test_a_url_loses_query_fragment_and_userinfo() -> None:
    assert redact_url(SIGNED) == "https://[redacted]@bucket.example/m.zip?[redacted]"
    assert redact_url("https://bucket.example/m.zip") == "https://bucket.example/m.zip"


def test_urls_and_paths_in_free_text_lose_their_query_strings_but_prose_keeps_its_question_marks() -> None:
    text = (
        "Download of https://u:p@h.example/m.zip?token=abc failed: HTTPConnectionPool(host='h', port=80): "
        "Max retries exceeded with url: /m.zip?token=abc (Caused by ...). Retry? Later."
    )
    redacted = redact_text(text)
    assert "abc" not in redacted and "u:p" not in redacted
    assert "https://[redacted]@h.example/m.zip?[redacted]" in redacted and "/m.zip?[redacted] (" in redacted
    assert redacted.endswith("Retry? Later.")


@pytest.mark.parametrize(
    ("mode", "principal", "full"),
    [
        ("off", ANONYMOUS, True),
        ("writes", ANONYMOUS, False),
        ("writes", Principal(name="r", kind="key", scopes=frozenset({"read", "deploy"})), False),
        ("writes", Principal(name="w", kind="key", scopes=frozenset({"write"})), True),
        ("all", Principal(name="a", kind="user", scopes=frozenset({"admin"})), True),
    ],
)
def test_only_callers_who_may_write_see_the_whole_url(settings, mode, principal, full) -> None:  # type: ignore[no-untyped-def]
    settings.MODELHUB_AUTH = mode
    token = current_principal.set(principal)
    try:
        assert source_url_for_caller(SIGNED) == (SIGNED if full else redact_url(SIGNED))
    finally:
        current_principal.reset(token)


def test_error_texts_lose_absolute_paths_but_keep_the_file_they_name(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from access.redaction import shown_error

    settings.MODEL_CACHE_DIR = tmp_path / "models"
    text = (
        f'Unable to read the model: "{tmp_path}/models/m1/1/model.xml"; also /opt/site/models/resnet/1/model.bin; '
        "see src/frontends/common/src/frontend.cpp:54 and https://h.example/a/b?sig=1"
    )
    assert shown_error(text) == (
        'Unable to read the model: "m1/1/model.xml"; also …/1/model.bin; '
        "see src/frontends/common/src/frontend.cpp:54 and https://h.example/a/b?[redacted]"
    )
