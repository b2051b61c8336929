"""StreamedModelUpload, driven in-process as an ASGI app: the file part goes to disk once, hashed, the rest to Django."""

import asyncio
import errno
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from registry import streaming
from registry.streaming import SCOPE_KEY, StreamedFile, StreamedModelUpload

BOUNDARY = "----modelhubTestBoundary"


def multipart(parts: list[tuple[str, bytes, str | None]]) -> bytes:
    out = b""
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename:
            out += b"Content-Type: application/zip\r\n"
        out += b"\r\n" + value + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


class Recorder:
    """The inner app: records what it is given, and what the staged file held at that moment."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        message = await receive()
        streamed: StreamedFile | None = scope.get(SCOPE_KEY)
        self.calls.append(
            {
                "body": message["body"],
                "content_length": dict(scope["headers"]).get(b"content-length"),
                "streamed": streamed,
                "file_bytes": Path(streamed.path).read_bytes() if streamed else None,
            }
        )
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def run(
    body: bytes,
    *,
    chunk: int,
    path: str = "/models",
    content_type: str | None = None,
    cut_at: int | None = None,
):  # type: ignore[no-untyped-def]
    inner = Recorder()
    app = StreamedModelUpload(inner)
    sent: list[dict[str, Any]] = []
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
    messages: list[dict[str, Any]] = []
    for index, piece in enumerate(pieces):
        if cut_at is not None and index * chunk >= cut_at:
            break
        messages.append({"type": "http.request", "body": piece, "more_body": index < len(pieces) - 1})
    messages.append({"type": "http.disconnect"})
    queue = iter(messages)

    async def receive() -> dict[str, Any]:
        return next(queue)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [
        (b"content-type", (content_type or f"multipart/form-data; boundary={BOUNDARY}").encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    asyncio.run(app(scope, receive, send))
    return inner, sent


@pytest.fixture(autouse=True)
def temp_dir(upload_tmp: Path) -> Path:
    return upload_tmp


@pytest.mark.parametrize("chunk", [1, 7, 64, 4096, 1 << 20])
def test_file_part_is_streamed_and_the_fields_are_replayed(chunk: int, upload_tmp: Path) -> None:
    payload = (
        os.urandom(300_000) + b"\r\n--" + BOUNDARY[:-3].encode() + os.urandom(1000)
    )  # boundary-like bytes inside
    if chunk == 1:
        payload = payload[:3000]
    body = multipart([("name", b"resnet", None), ("file", payload, "m.zip"), ("version", b"1", None)])
    inner, sent = run(body, chunk=chunk)
    [call] = inner.calls
    streamed = call["streamed"]
    assert call["file_bytes"] == payload
    assert streamed.sha256 == hashlib.sha256(payload).hexdigest()
    assert streamed.size == len(payload) and streamed.filename == "m.zip"
    assert call["body"] == multipart([("name", b"resnet", None), ("version", b"1", None)])
    assert call["content_length"] == str(len(call["body"])).encode()
    assert sent[0]["status"] == 201
    assert list(upload_tmp.iterdir()) == []  # not moved into storage by the inner app: removed afterwards


def test_a_repeated_file_part_keeps_the_last(upload_tmp: Path) -> None:
    body = multipart([("file", b"first", "a.zip"), ("file", b"second", "b.zip"), ("name", b"x", None)])
    inner, _ = run(body, chunk=5)
    assert inner.calls[0]["file_bytes"] == b"second"
    assert list(upload_tmp.iterdir()) == []


def test_other_file_parts_are_passed_to_django(upload_tmp: Path) -> None:
    body = multipart([("labels", b'["a"]', "labels.json"), ("name", b"x", None)])
    inner, _ = run(body, chunk=10)
    assert inner.calls[0]["streamed"] is None
    assert b'filename="labels.json"' in inner.calls[0]["body"] and b'["a"]' in inner.calls[0]["body"]


def test_client_disconnect_mid_file_leaves_nothing(upload_tmp: Path) -> None:
    body = multipart([("name", b"x", None), ("file", os.urandom(5 << 20), "m.zip")])
    inner, sent = run(body, chunk=256 * 1024, cut_at=2 << 20)
    assert inner.calls == [] and sent == []
    assert list(upload_tmp.iterdir()) == []


@pytest.mark.parametrize(
    "body",
    [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="m.zip"\r\n\r\nPK'.encode(),  # no end
        b"garbage without any boundary",
    ],
)
def test_malformed_or_truncated_body_is_422(body: bytes, upload_tmp: Path) -> None:
    inner, sent = run(body, chunk=8)
    assert inner.calls == []
    assert sent[0]["status"] == 422
    assert b"Malformed multipart body" in sent[1]["body"]
    assert list(upload_tmp.iterdir()) == []


def test_oversized_form_fields_are_413(settings, upload_tmp: Path) -> None:  # type: ignore[no-untyped-def]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = multipart([("file", b"PK" * 10, "m.zip"), ("overview", b"x" * 2000, None)])
    inner, sent = run(body, chunk=100)
    assert inner.calls == []
    assert sent[0]["status"] == 413
    assert list(upload_tmp.iterdir()) == []


def test_a_disk_too_small_is_507_before_the_file_is_read(monkeypatch, caplog, upload_tmp: Path) -> None:  # type: ignore[no-untyped-def]
    def no_space(fd: int, size: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(streaming, "_fallocate", no_space)
    body = multipart([("name", b"x", None), ("file", os.urandom(3 << 20), "m.zip")])
    inner, sent = run(body, chunk=64 * 1024, cut_at=256 * 1024)  # the client is cut off after 256 KiB
    assert inner.calls == []
    assert sent[0]["status"] == 507
    assert f"Not enough disk space to store an upload of {len(body)} bytes".encode() in sent[1]["body"]
    assert list(upload_tmp.iterdir()) == []
    assert "Upload to /models refused with 507: Not enough disk space" in caplog.text


def test_a_file_system_without_fallocate_still_stores_the_upload(monkeypatch, upload_tmp: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(streaming, "_libc_fallocate", None)  # as on a system without fallocate(2)
    payload = os.urandom(2 << 20)
    inner, _ = run(multipart([("file", payload, "m.zip")]), chunk=100_000)
    assert inner.calls[0]["file_bytes"] == payload


def test_the_reserved_space_is_cut_to_the_file_size(monkeypatch, upload_tmp: Path) -> None:  # type: ignore[no-untyped-def]
    reserved: list[int] = []
    real = streaming._fallocate
    monkeypatch.setattr(streaming, "_fallocate", lambda fd, size: (reserved.append(size), real(fd, size)))
    payload = os.urandom(1 << 20)
    body = multipart([("overview", b"y" * 50_000, None), ("file", payload, "m.zip")])
    inner, _ = run(body, chunk=65536)
    assert reserved == [len(body)]  # the declared body size, more than the file
    assert inner.calls[0]["streamed"].size == len(payload)
    assert inner.calls[0]["file_bytes"] == payload  # read while staged: exactly the part, no reserved tail


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/models/x", None), ("/models", "application/json"), ("/other", None)],
)
def test_other_requests_pass_through_untouched(path: str, content_type: str | None) -> None:
    body = multipart([("file", b"abc", "m.zip")])
    inner, _ = run(body, chunk=len(body), path=path, content_type=content_type)
    assert inner.calls[0]["streamed"] is None
    assert inner.calls[0]["body"] == body


def test_a_short_writev_resumes_where_it_stopped(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    real_writev = os.writev

    def at_most_5_bytes(fd: int, buffers: list[memoryview]) -> int:
        return real_writev(fd, [b"".join(bytes(b) for b in buffers)[:5]])

    monkeypatch.setattr(os, "writev", at_most_5_bytes)
    pieces = [memoryview(b"abc"), memoryview(b"defgh"), memoryview(b""), memoryview(b"ijklmnopq")]
    handed_over = list(pieces)
    target = tmp_path / "out"
    with target.open("wb") as file:
        streaming._write_all(file.fileno(), pieces)
    assert target.read_bytes() == b"abcdefghijklmnopq"
    assert pieces == handed_over  # the hashing thread reads the same list
