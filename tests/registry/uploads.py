"""Helpers to upload big files without holding them in memory: a streamed multipart body and a big stored ZIP."""

import os
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

CHUNK = 1024 * 1024


class MultipartStream:
    """A multipart/form-data body read from disk chunk by chunk; `len()` lets requests send a Content-Length."""

    def __init__(
        self, fields: dict[str, str], file_path: Path, *, file_field: str = "file", chunk: int = CHUNK
    ) -> None:
        self.boundary = uuid.uuid4().hex
        self.file_path = file_path
        self.chunk = chunk
        head = b"".join(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
            for key, value in fields.items()
        )
        head += (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{file_path.name}"\r\n'
            "Content-Type: application/zip\r\n\r\n"
        ).encode()
        self.head = head
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.length = len(head) + os.path.getsize(file_path) + len(self.tail)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        with open(self.file_path, "rb") as source:
            while block := source.read(self.chunk):
                yield block
        yield self.tail


def write_big_zip(path: Path, payload_bytes: int, *, extra: dict[str, bytes] | None = None) -> Path:
    """A ZIP with one stored (uncompressed) entry of `payload_bytes` pseudo-random bytes, written in chunks."""
    block = os.urandom(CHUNK)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, content in (extra or {}).items():
            archive.writestr(name, content)
        with archive.open("weights.bin", "w", force_zip64=True) as entry:
            remaining = payload_bytes
            while remaining > 0:
                piece = block[: min(CHUNK, remaining)]
                entry.write(piece)
                remaining -= len(piece)
    return path
