import hashlib
import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lifecycle.fileserver import FileServer
from tests.modelfiles import build_constant_model, save_ir


def model_zip(tmp: Path, *, padding: int = 0, value: float = 1.0) -> bytes:
    """A real OpenVINO IR model in a ZIP, made `padding` bytes bigger (incompressible) to slow a download."""
    xml = save_ir(build_constant_model(value), tmp / f"ir-{value}-{padding}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.write(xml, "model.xml")
        archive.write(xml.with_suffix(".bin"), "model.bin")
        if padding:
            archive.writestr("extra/padding.dat", os.urandom(padding))
    return buffer.getvalue()


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    server = FileServer().start()
    yield server
    server.stop()
