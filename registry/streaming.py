"""ASGI middleware that streams the ZIP of `POST /models` straight to the upload temp folder as it arrives.

Django's ASGI handler first spools a whole request body to a temp file, then its multipart parser copies the
file part into another one: every uploaded byte is written twice and read back once, and hashing waits for
the end. Here the multipart body is parsed as it arrives (python-multipart); the `file` part is hashed and
written once, by a worker thread, while the next chunks are received. Django then gets only the small form
fields, and the view finds the staged file with `streamed_upload()`.
"""

import asyncio
import ctypes
import errno
import hashlib
import logging
import os
import shutil
import tempfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from access.asgi_gate import SCOPE_KEY as ACCESS_DECIDED
from access.asgi_gate import refusal_before_body
from config.asgi_limits import ASGIApp, Message, Receive, Scope, Send, declared_length

logger = logging.getLogger(__name__)

SCOPE_KEY = "modelhub.streamed_upload"
UPLOAD_SCOPE = "write"  # POST /models (registry/apis.py access_policy)
FILE_FIELD = "file"
_BLOCK = 1024 * 1024  # bytes handed to the worker threads at a time
_MAX_PIECES = 512  # received chunks per batch (one writev takes at most IOV_MAX = 1024)
_IN_FLIGHT = 8  # batches queued for the worker threads before receiving waits (bounds memory to ~8-16 MiB)


@dataclass(frozen=True)
class StreamedFile:
    path: str
    sha256: str
    size: int
    filename: str


class _ClientGone(Exception):
    pass


class _Rejected(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class _FileSink:
    """One uploaded file: hashed and written in order by two worker threads, a few batches behind the reader.

    The received chunks themselves are handed over (no copy on the event loop) and written with one writev
    per batch; the declared body size is reserved on disk first (the file is cut to its size at the end).
    """

    def __init__(self, directory: str, filename: str, expected_size: int | None = None) -> None:
        fd, self.path = tempfile.mkstemp(dir=directory, suffix=".upload.zip")
        self._file = os.fdopen(fd, "wb", buffering=0)
        self._digest = hashlib.sha256()
        # Hashing and writing each get a thread (both release the GIL), so they overlap with each other and
        # with receiving; one thread each keeps the batches in order.
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload-sha256")
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload-write")
        self._pending: deque[Future[Any]] = deque()
        self._buffer: list[memoryview] = []
        self._buffered = 0
        self.filename = filename
        self.size = 0
        self.complete = False
        self._reserved = 0
        self._directory = directory
        if expected_size:
            self._reserve(expected_size)

    def _reserve(self, size: int) -> None:
        """Claim the disk space up front: a disk too small fails now, not after gigabytes (writes get cheaper too).

        Never below the free-space floor, and never more than MODELHUB_UPLOADS_MAX_RESERVED_BYTES for all the
        uploads in flight in this process together."""
        global _reserved_in_flight
        if _reserved_in_flight + size > settings.REGISTRY_MAX_RESERVED_BYTES:
            self.discard()
            raise _Rejected(
                503,
                {
                    "detail": f"Too many uploads in progress ({_reserved_in_flight} bytes reserved); retry later."
                },
            )
        try:
            _check_free_space(self._directory, size)
        except _Rejected:
            self.discard()
            raise
        try:
            _fallocate(self._file.fileno(), size)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                self.discard()
                raise _Rejected(
                    507, {"detail": f"Not enough disk space to store an upload of {size} bytes."}
                ) from None
            return  # a file system without fallocate: written as it comes
        self._reserved = size
        _reserved_in_flight += size

    def _count_growth(self, extra: int) -> None:
        """Bytes written beyond the reservation count against the same cap and floor as a reservation."""
        global _reserved_in_flight
        if _reserved_in_flight + extra > settings.REGISTRY_MAX_RESERVED_BYTES:
            raise _Rejected(
                503,
                {
                    "detail": f"Too many uploads in progress ({_reserved_in_flight} bytes reserved); retry later."
                },
            )
        _check_free_space(self._directory, extra)
        self._reserved += extra
        _reserved_in_flight += extra

    def _release(self) -> None:
        global _reserved_in_flight
        _reserved_in_flight -= self._reserved
        self._reserved = 0

    def feed(self, data: memoryview) -> None:
        self._buffer.append(data)
        self._buffered += len(data)
        self.size += len(data)

    async def flush(self, *, force: bool = False) -> None:
        if self._buffer and (force or self._buffered >= _BLOCK or len(self._buffer) >= _MAX_PIECES):
            if (
                self.size > self._reserved
            ):  # beyond what was reserved (no Content-Length, or no fallocate here)
                self._count_growth(self.size - self._reserved)
            # The received chunks themselves go to the threads: no copy into a block on the event loop.
            pieces = self._buffer
            self._pending.append(self._hasher.submit(_hash_all, self._digest, pieces))
            self._pending.append(self._writer.submit(_write_all, self._file.fileno(), pieces))
            self._buffer = []
            self._buffered = 0
        while self._pending and (force or len(self._pending) > 2 * _IN_FLIGHT):
            await asyncio.wrap_future(self._pending.popleft())

    async def finish(self) -> StreamedFile:
        await self.flush(force=True)
        if self._reserved > self.size:
            os.ftruncate(self._file.fileno(), self.size)
        self.close()
        self.complete = True
        return StreamedFile(
            path=self.path, sha256=self._digest.hexdigest(), size=self.size, filename=self.filename
        )

    def close(self) -> None:
        self._hasher.shutdown(wait=True)
        self._writer.shutdown(wait=True)
        self._file.close()
        self._release()

    def discard(self) -> None:
        self.close()
        Path(self.path).unlink(missing_ok=True)


_reserved_in_flight = 0  # bytes reserved on disk by the uploads in flight in this process


def _check_free_space(directory: str, size: int) -> None:
    """507 unless `size` more bytes leave the free-space floor free (the database, logs and model cache need it)."""
    usage = shutil.disk_usage(directory)
    floor = max(
        settings.REGISTRY_DISK_FREE_FLOOR_BYTES, int(usage.total * settings.REGISTRY_DISK_FREE_FLOOR_RATIO)
    )
    if usage.free - size < floor:
        raise _Rejected(
            507,
            {
                "detail": f"Not enough disk space: storing {size} more bytes would leave less than {floor} bytes free."
            },
        )


def _fallocate(fd: int, size: int) -> None:
    """fallocate(2) itself: unlike `os.posix_fallocate`, glibc does not fall back to writing a byte per block
    where the file system cannot allocate (NFS, older ZFS), which would block the event loop for a long time."""
    if _libc_fallocate is None:
        raise OSError(errno.EOPNOTSUPP, "fallocate is not available here")
    if _libc_fallocate(fd, 0, ctypes.c_int64(0), ctypes.c_int64(size)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


_libc_fallocate = getattr(ctypes.CDLL(None, use_errno=True), "fallocate", None)


def _hash_all(digest: Any, pieces: list[memoryview]) -> None:
    for piece in pieces:
        digest.update(piece)


def _write_all(fd: int, pieces: list[memoryview]) -> None:
    """One writev per batch (a short write resumes where it stopped; the list itself is not changed, the
    hashing thread reads it too)."""
    while pieces:
        written = os.writev(fd, pieces)
        done = 0
        while done < len(pieces) and written >= len(pieces[done]):
            written -= len(pieces[done])
            done += 1
        pieces = pieces[done:]  # a new list
        if pieces and written:
            pieces[0] = pieces[0][written:]


class _FormCollector:
    """Parser callbacks: the `file` part goes to a _FileSink, every other part is kept to rebuild a small body."""

    def __init__(
        self, boundary: bytes, temp_dir: str, max_form_bytes: int, body_size: int | None = None
    ) -> None:
        self.boundary = boundary
        self.body_size = body_size
        self.temp_dir = temp_dir
        self.max_form_bytes = max_form_bytes
        self.parts: list[tuple[list[tuple[bytes, bytes]], bytearray]] = []
        self.form_bytes = 0
        self.sink: _FileSink | None = None
        self.streamed: StreamedFile | None = None
        self.finished = False
        self._headers: list[tuple[bytes, bytes]] = []
        self._field = bytearray()
        self._value = bytearray()
        self._current: bytearray | None = None
        self._file_part_ended = False
        self.part_count = 0
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": lambda data, start, end: self._grow(self._field, data[start:end]),
                "on_header_value": lambda data, start, end: self._grow(self._value, data[start:end]),
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
        )

    @staticmethod
    def _grow(buffer: bytearray, data: bytes) -> None:
        if len(buffer) + len(data) > settings.UPLOAD_MAX_PART_HEADER_BYTES:
            raise _Rejected(413, {"detail": "A form part has too many or too large headers."})
        buffer.extend(data)

    def _part_begin(self) -> None:
        self._headers = []
        self._current = None
        self.part_count += 1
        if self.part_count > settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1:  # the fields and the file
            raise _Rejected(
                413,
                {
                    "detail": f"Too many form parts: the limit is {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields."
                },
            )

    def _header_end(self) -> None:
        if (
            len(self._headers) >= settings.UPLOAD_MAX_PART_HEADERS
            or len(self._field) + len(self._value) > settings.UPLOAD_MAX_PART_HEADER_BYTES
        ):
            raise _Rejected(413, {"detail": "A form part has too many or too large headers."})
        self._headers.append((bytes(self._field), bytes(self._value)))
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        disposition = next(
            (value for name, value in self._headers if name.lower() == b"content-disposition"), b""
        )
        _, options = parse_options_header(disposition)
        if options.get(b"name") == FILE_FIELD.encode() and b"filename" in options:
            if self.sink is not None:  # a repeated file part: the last one wins, as in Django's QueryDict
                self.sink.discard()
                self.streamed = None
            self._file_part_ended = False
            # The file is at most the declared body size (the form fields are small).
            self.sink = _FileSink(
                self.temp_dir, options[b"filename"].decode("utf-8", "replace"), expected_size=self.body_size
            )
        else:
            self._current = bytearray()
            self.parts.append((self._headers, self._current))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current is None:
            assert self.sink is not None
            self.sink.feed(memoryview(data)[start:end])  # no copy: the threads hash and write these views
            return
        self.form_bytes += end - start
        if self.form_bytes > self.max_form_bytes:
            raise _Rejected(413, {"detail": f"The form fields exceed {self.max_form_bytes} bytes."})
        self._current.extend(data[start:end])

    def _part_end(self) -> None:
        if self._current is None:
            self._file_part_ended = True

    def _end(self) -> None:
        self.finished = True

    async def write(self, chunk: bytes) -> None:
        self.parser.write(chunk)
        if self.sink is not None and not self.sink.complete:
            if self._file_part_ended:
                self.streamed = await self.sink.finish()
            else:
                await self.sink.flush()

    def rebuilt_body(self) -> bytes:
        out = bytearray()
        for headers, value in self.parts:
            out += b"--" + self.boundary + b"\r\n"
            for name, header_value in headers:
                out += name + b": " + header_value + b"\r\n"
            out += b"\r\n" + value + b"\r\n"
        out += b"--" + self.boundary + b"--\r\n"
        return bytes(out)

    def cleanup(self) -> None:
        """Remove the staged file unless the app moved it into storage."""
        if self.sink is not None:
            self.sink.discard()


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return b""


class StreamedModelUpload:
    """Wraps the HTTP app; only multipart `POST /models` is handled differently."""

    def __init__(self, app: ASGIApp, path: str = "/models") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        content_type, options = parse_options_header(_header(scope, b"content-type"))
        boundary = options.get(b"boundary")
        if content_type != b"multipart/form-data" or not boundary:
            await self.app(scope, receive, send)
            return
        # Decided from the headers, before a byte of the body is read or a byte of disk reserved.
        refusal = None if scope.get(ACCESS_DECIDED) else await refusal_before_body(scope, UPLOAD_SCOPE)
        if refusal is not None:
            status, message = refusal
            logger.info("Upload to %s refused before its body: %s %s", self.path, status, message)
            await _respond(send, status, {"detail": message})
            return

        form = _FormCollector(
            boundary,
            settings.FILE_UPLOAD_TEMP_DIR,
            settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
            body_size=declared_length(scope),
        )
        try:
            try:
                await self._read(form, receive)
            except _ClientGone:
                logger.info("Upload to %s aborted by the client", self.path)
                return
            except _Rejected as exc:
                logger.warning("Upload to %s refused with %s: %s", self.path, exc.status, exc.body["detail"])
                await _respond(send, exc.status, exc.body)
                return
            except MultipartParseError as exc:
                await _respond(
                    send,
                    422,
                    {
                        "detail": [
                            {
                                "loc": ["body"],
                                "msg": f"Malformed multipart body: {exc}",
                                "type": "value_error",
                            }
                        ]
                    },
                )
                return
            body = form.rebuilt_body()
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            inner_scope = {**scope, "headers": headers, SCOPE_KEY: form.streamed}
            delivered = False

            async def replay() -> Message:
                nonlocal delivered
                if not delivered:
                    delivered = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(inner_scope, replay, send)
        finally:
            form.cleanup()

    async def _read(self, form: _FormCollector, receive: Receive) -> None:
        idle = settings.UPLOAD_IDLE_TIMEOUT_SECONDS
        while True:
            try:
                message = await asyncio.wait_for(receive(), idle)
            except TimeoutError:
                raise _Rejected(
                    408, {"detail": f"No upload data for {idle:g} s: the upload was abandoned."}
                ) from None
            if message["type"] == "http.disconnect":
                raise _ClientGone()
            chunk = message.get("body", b"")
            if chunk:
                await form.write(chunk)
            if not message.get("more_body", False):
                break
        form.parser.finalize()
        if not form.finished or (form.sink is not None and not form.sink.complete):
            raise MultipartParseError("the body ended before the closing boundary")


async def _respond(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def streamed_upload(request: HttpRequest) -> StreamedFile | None:
    """The file `StreamedModelUpload` staged for this request, if it did."""
    scope = getattr(request, "scope", None)
    return scope.get(SCOPE_KEY) if scope else None
