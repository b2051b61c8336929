"""The resumable HTTP fetcher against a real local HTTP server (no database)."""

import os
import threading
import time

import pytest

from inference.lifecycle.fetch import FetchCanceled, FetchFailed, Transfer, fetch
from tests.lifecycle.conftest import sha256_of
from tests.lifecycle.fileserver import Served

pytestmark = pytest.mark.usefixtures("allow_loopback_sources")

BODY = os.urandom(600_000)


def test_complete_file_is_verified_and_renamed(file_server, tmp_path):
    url = file_server.serve("/m.zip", Served(BODY))
    seen = []
    result = fetch(
        url, tmp_path / "m.zip", expected_sha256=sha256_of(BODY), progress=lambda d, t: seen.append((d, t))
    )
    assert result.path.read_bytes() == BODY and result.sha256 == sha256_of(BODY)
    assert not (tmp_path / "m.zip.part").exists()
    assert seen[-1] == (len(BODY), len(BODY))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_dropped_connection_resumes_with_range(file_server, tmp_path):
    served = Served(BODY, drop_after=200_000, drop_times=1)
    url = file_server.serve("/m.zip", served)
    validators = []
    result = fetch(
        url, tmp_path / "m.zip", expected_sha256=sha256_of(BODY), on_validator=validators.append, retries=2
    )
    assert result.path.read_bytes() == BODY
    first, second = file_server.requests_for("/m.zip")
    assert "Range" not in first
    resumed_at = int(second["Range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= 200_000
    assert second["If-Range"] == served.etag == validators[0]


def test_partial_file_from_an_earlier_attempt_is_continued(file_server, tmp_path):
    served = Served(BODY)
    url = file_server.serve("/m.zip", served)
    (tmp_path / "m.zip.part").write_bytes(BODY[:123_456])
    result = fetch(url, tmp_path / "m.zip", expected_sha256=sha256_of(BODY), validator=served.etag)
    assert result.resumed_from == 123_456 and result.path.read_bytes() == BODY
    assert file_server.requests_for("/m.zip")[0]["Range"] == "bytes=123456-"


def test_changed_file_on_the_server_starts_over(file_server, tmp_path):
    url = file_server.serve("/m.zip", Served(BODY))
    (tmp_path / "m.zip.part").write_bytes(b"x" * 1000)  # bytes of an older version of the file
    result = fetch(url, tmp_path / "m.zip", expected_sha256=sha256_of(BODY), validator='"old-etag"')
    assert result.path.read_bytes() == BODY  # If-Range did not match: the server sent it whole


def test_sha256_mismatch_fails_and_removes_the_file(file_server, tmp_path):
    url = file_server.serve("/m.zip", Served(BODY))
    with pytest.raises(FetchFailed, match="sha256 mismatch"):
        fetch(url, tmp_path / "m.zip", expected_sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_404_fails_at_once_with_the_status(file_server, tmp_path):
    with pytest.raises(FetchFailed, match="404 Not Found"):
        fetch(file_server.base_url + "/missing.zip", tmp_path / "m.zip", retries=3)
    assert len(file_server.requests_for("/missing.zip")) == 1


def test_silent_server_times_out_after_retries(file_server, tmp_path):
    url = file_server.serve("/hang.zip", Served(BODY, hang=True))
    started = time.monotonic()
    with pytest.raises(FetchFailed, match=r"after 2 attempt\(s\).*read timeout"):
        fetch(url, tmp_path / "m.zip", read_timeout=0.5, retries=1)
    assert time.monotonic() - started < 5
    assert len(file_server.requests_for("/hang.zip")) == 2


def test_cancel_interrupts_a_read_blocked_on_a_silent_server(file_server, tmp_path):
    url = file_server.serve("/stall.zip", Served(BODY, stall_after_headers=True))
    transfer = Transfer()
    threading.Timer(0.5, transfer.cancel).start()
    started = time.monotonic()
    with pytest.raises(FetchCanceled):
        fetch(url, tmp_path / "m.zip", transfer=transfer, read_timeout=30)
    assert time.monotonic() - started < 1.5


def test_cancel_mid_transfer_keeps_no_complete_file(file_server, tmp_path):
    url = file_server.serve("/slow.zip", Served(BODY, rate=300_000))
    transfer = Transfer()
    seen = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done > 100_000:
            transfer.cancel()

    with pytest.raises(FetchCanceled):
        fetch(url, tmp_path / "m.zip", transfer=transfer, progress=progress)
    assert not (tmp_path / "m.zip").exists()
    assert max(seen) < len(BODY)
