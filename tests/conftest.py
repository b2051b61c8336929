import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.live import LiveService, live_service


@pytest.fixture(autouse=True)
def _isolated_storage(tmp_path: Path, settings: "settings") -> None:  # type: ignore[valid-type]
    """Each test stores artifacts and the model cache in its own folder (its own prefix of the bucket when the
    topology has S3: `make test-scaled`)."""
    default = settings.STORAGES["default"]
    if settings.S3_BUCKET:
        default = {**default, "OPTIONS": {**default["OPTIONS"], "location": f"tests/{uuid.uuid4().hex}"}}
    else:
        default = {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "artifacts"},
        }
    settings.STORAGES = {**settings.STORAGES, "default": default}
    settings.MODEL_CACHE_DIR = tmp_path / "models"


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """One real modelhub (uvicorn + django-q2 worker) shared by the tests that only need HTTP."""
    with live_service(tmp_path_factory.mktemp("live")) as service:
        yield service


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-scaled",
        action="store_true",
        help="also run the multi-node tests (marker `scaled`); `make test-scaled` passes it",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-scaled"):
        return
    skip = pytest.mark.skip(reason="multi-node topology test: runs in `make test-scaled`")
    for item in items:
        if "scaled" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def allow_loopback_sources(settings: "settings") -> None:  # type: ignore[valid-type]
    """source_url may point at the test file servers on 127.0.0.1 (refused by default: SSRF guard)."""
    settings.SOURCE_URL_ALLOW = ["127.0.0.1"]


@pytest.fixture(scope="session")
def genai_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three tiny openvino-genai models (inference/genai/builder.py), built once per session (about 1.5 s):
    keys "llm", "embed", "rerank", each an openvino-genai model folder."""
    from inference.genai import builder

    built = builder.build_all(tmp_path_factory.mktemp("genai-models"))
    return {"llm": built["tiny-llm"], "embed": built["tiny-embed"], "rerank": built["tiny-rerank"]}


@pytest.fixture(scope="session")
def genai_zips(genai_models: dict[str, Path]) -> dict[str, bytes]:
    """The same three folders as ZIPs ready for POST /models (same keys)."""
    from inference.genai import builder

    return {key: builder.zip_folder(folder) for key, folder in genai_models.items()}
