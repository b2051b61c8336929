import zipfile
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from tests.modelfiles import build_constant_model, ir_zip, magika_onnx, onnx_zip, zip_files


@pytest.fixture
def upload_tmp(tmp_path: Path, settings) -> Path:  # type: ignore[no-untyped-def]
    """A private upload temp folder, so a test can prove nothing was left behind in it."""
    folder = tmp_path / "upload-tmp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    return folder


@pytest.fixture
def artifacts_dir(tmp_path: Path, settings) -> Path:  # type: ignore[no-untyped-def]
    """The local folder artifacts are stored in, for tests that look at (or break) stored files on disk.

    Such a test stores on the local disk under every topology; the registry reaches storage only through
    `default_storage`, and the S3 path is proven by the live tests of `make test-scaled` (tests/scaled/)."""
    folder = tmp_path / "artifacts"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": folder},
        },
    }
    return folder


@pytest.fixture
def api(upload_tmp: Path) -> APIClient:
    return APIClient()


@pytest.fixture(scope="session")
def ir_archive(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return ir_zip(build_constant_model(1.0), tmp_path_factory.mktemp("ir"))


@pytest.fixture(scope="session")
def onnx_archive() -> bytes:
    return onnx_zip(magika_onnx())


def stored_files(artifacts_dir: Path) -> list[Path]:
    return (
        sorted(path for path in artifacts_dir.rglob("*") if path.is_file()) if artifacts_dir.exists() else []
    )


def zip_with(entries: dict[str, bytes]) -> bytes:
    return zip_files(entries)


def empty_zip() -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w"):
        pass
    return buffer.getvalue()
