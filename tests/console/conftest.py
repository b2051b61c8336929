from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from inference.models import (
    Servable,
    ServableIdentity,
    ServedVersion,
    ServingProcess,
    VersionReport,
    VersionState,
)
from registry import services
from registry.artifacts import stage_archive
from registry.models import Model
from tests.modelfiles import build_constant_model, ir_zip


@pytest.fixture
def staff(tmp_path: Path, settings) -> Client:  # type: ignore[no-untyped-def]
    (tmp_path / "upload-tmp").mkdir(exist_ok=True)
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "upload-tmp")
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


@pytest.fixture(scope="session")
def const_archive(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return ir_zip(build_constant_model(1.0), tmp_path_factory.mktemp("const"))


@pytest.fixture
def served(const_archive: bytes) -> Model:
    """Model `m1` served as const:1, AVAILABLE on one live server process."""
    model = services.model_create(
        fields={"id": "m1", "name": "const", "version": "1"}, archive=stage_archive([const_archive])
    )
    ServableIdentity.objects.create(model=model, servable_name="const", version=1)
    servable = Servable.objects.create(name="const")
    ServedVersion.objects.create(servable=servable, version=1, model=model)
    now = timezone.now()
    process = ServingProcess.objects.create(
        id="host:1:1", host="host", pid=1, started_at=now - timedelta(minutes=5), last_seen=now
    )
    VersionReport.objects.create(
        process=process, servable_name="const", version=1, state=VersionState.AVAILABLE, warmed_up=True,
        ram_bytes=3 * 2**20,
    )  # fmt: skip
    return model
