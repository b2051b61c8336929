"""The lifecycle API driven by the official Pieces OS client (pieces-os-client 5.0.1), unmodified, against a live
modelhub: every ModelApi method of the spec, as the spec's examples call them, and its error cases.

(5.0.1's package `__init__` exports nothing, so the classes come from their modules.)"""

import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import requests
from pieces_os_client.api.model_api import ModelApi
from pieces_os_client.api_client import ApiClient
from pieces_os_client.configuration import Configuration
from pieces_os_client.exceptions import (
    ConflictException,
    ForbiddenException,
    NotFoundException,
    UnprocessableEntityException,
)
from pieces_os_client.models.model import Model
from pieces_os_client.models.model_download_progress import ModelDownloadProgress
from pieces_os_client.models.model_download_progress_status_enum import (
    ModelDownloadProgressStatusEnum as Status,
)
from pieces_os_client.models.model_type_enum import ModelTypeEnum
from pieces_os_client.models.model_usage_enum import ModelUsageEnum
from pieces_os_client.rest import ApiException

from tests.lifecycle.conftest import model_zip, sha256_of
from tests.lifecycle.fileserver import FileServer, Served
from tests.live import LiveService, live_service

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    # Loopback sources are allowed explicitly where outbound fetches are restricted to public addresses.
    with live_service(
        tmp_path_factory.mktemp("pieces-live"), env={"MODELHUB_SOURCE_URL_ALLOW": "127.0.0.1"}
    ) as service:
        yield service


@pytest.fixture(scope="module")
def api(live: LiveService) -> Iterator[ModelApi]:
    with ApiClient(Configuration(host=live.url)) as client:
        yield ModelApi(client)


def upload(live: LiveService, archive: bytes, **fields: str) -> str:
    response = requests.post(
        f"{live.url}/models",
        data={"name": f"pieces-{uuid.uuid4().hex[:8]}", "version": "1", **fields},
        files={"file": ("m.zip", archive)},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.text


def progress_until(
    api: ModelApi, model_id: str, done: Callable[[ModelDownloadProgress], bool], timeout: float = 60
) -> ModelDownloadProgress:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = api.model_specific_model_download_progress(model_id)
        assert isinstance(progress, ModelDownloadProgress)
        if done(progress):
            return progress
        time.sleep(0.1)
    raise AssertionError(f"progress of {model_id} never got there; last: {progress}")


def test_snapshot_download_progress_load_unload(api, live, tmp_path):
    model_id = upload(live, model_zip(tmp_path, value=3.0), precision="FP16")

    snapshot = api.models_specific_model_snapshot(model_id)
    assert isinstance(snapshot, Model) and snapshot.id == model_id
    assert snapshot.type == ModelTypeEnum.BALANCED and snapshot.usage == ModelUsageEnum.UNKNOWN
    assert snapshot.custom is True and snapshot.cloud is False and snapshot.downloaded is False
    assert api.model_specific_model_download_progress(model_id).status == Status.UNKNOWN

    started = api.model_specific_model_download(model_id)
    assert isinstance(started, Model) and started.id == model_id
    done = progress_until(api, model_id, lambda p: p.status in (Status.COMPLETED, Status.FAILED))
    assert done.status == Status.COMPLETED and done.percentage == 100
    assert api.models_specific_model_snapshot(model_id).downloaded is True

    loaded = api.model_specific_model_load(model_id)
    assert loaded.loaded is True and loaded.ram is not None and loaded.ram.value > 0
    name, version = loaded.unique.split(":")
    answer = requests.post(
        f"{live.url}/v2/models/{name}/versions/{version}/infer",
        json={"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0, 0, 0, 0]}]},
        timeout=10,
    )
    assert answer.status_code == 200 and answer.json()["outputs"][0]["data"] == [3.0] * 4

    unloaded = api.model_specific_model_unload(model_id)
    assert unloaded.loaded is False and unloaded.ram is None
    assert (
        requests.get(f"{live.url}/v2/models/{name}/versions/{version}/ready", timeout=10).status_code == 404
    )


def test_update_round_trip_of_the_object_the_client_received(api, live, tmp_path):
    model_id = upload(live, model_zip(tmp_path), overview='{"description": "before", "kept": 1}')
    model = api.models_specific_model_snapshot(model_id)
    assert model.type == ModelTypeEnum.ACCURACY  # FP32 by default

    model.description = "after"
    model.usage = ModelUsageEnum.TEXT_EMBEDDING
    model.type = ModelTypeEnum.SPEED
    # Fields of the Pieces schema modelhub has no use for travel too; they are accepted (and not stored).
    model.quantization = "q4f16_1"
    model.parameters = None
    model.denied = False
    updated = api.model_update(model=model)

    assert isinstance(updated, Model) and updated.description == "after"
    again = api.models_specific_model_snapshot(model_id)
    assert again.description == "after" and again.name == model.name and again.version == model.version
    assert again.usage == ModelUsageEnum.TEXT_EMBEDDING and again.type == ModelTypeEnum.SPEED
    registry = requests.get(f"{live.url}/models/{model_id}", timeout=10).json()
    assert registry["overview"] == {"description": "after", "kept": 1}


def test_cancel_a_running_download(api, live, tmp_path):
    archive = model_zip(tmp_path, padding=3_000_000)
    source = FileServer().start()
    try:
        url = source.serve("/slow.zip", Served(archive, rate=400_000))
        response = requests.post(
            f"{live.url}/models",
            json={"name": "slow", "version": "1", "source_url": url, "sha256": sha256_of(archive)},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        model_id = response.text

        assert api.model_specific_model_download(model_id).downloading is True
        progress_until(api, model_id, lambda p: p.status == Status.IN_MINUS_PROGRESS and p.percentage > 0)
        canceled = api.model_specific_model_download_cancel(model_id)
    finally:
        source.stop()

    assert isinstance(canceled, Model) and canceled.downloading is False and canceled.downloaded is False
    assert api.model_specific_model_download_progress(model_id).status == Status.CANCELED
    with pytest.raises(ConflictException) as nothing_running:
        api.model_specific_model_download_cancel(model_id)
    assert nothing_running.value.status == 409 and "No download" in nothing_running.value.body


def test_errors_surface_as_the_clients_exceptions_with_our_message(api, live, tmp_path):
    # The snapshot of an unknown model: 410, the spec's "model was not found."; the client has no subclass for it.
    with pytest.raises(ApiException) as gone:
        api.models_specific_model_snapshot("no-such-model")
    assert gone.value.status == 410 and "model was not found" in gone.value.body

    for call in (
        api.model_specific_model_download,
        api.model_specific_model_download_cancel,
        api.model_specific_model_download_progress,
        api.model_specific_model_load,
        api.model_specific_model_unload,
    ):
        with pytest.raises(NotFoundException) as missing:
            call("no-such-model")
        assert missing.value.status == 404 and "'no-such-model' was not found" in missing.value.body

    model_id = upload(live, model_zip(tmp_path))
    with pytest.raises(ConflictException) as not_downloaded:
        api.model_specific_model_load(model_id)
    assert "not downloaded" in not_downloaded.value.body
    with pytest.raises(ConflictException) as not_loaded:
        api.model_specific_model_unload(model_id)
    assert "not loaded" in not_loaded.value.body

    snapshot = api.models_specific_model_snapshot(model_id)
    snapshot.id = "no-such-model"  # the id names the model to update: it cannot be changed
    with pytest.raises(NotFoundException):
        api.model_update(model=snapshot)

    geti_id = upload(live, model_zip(tmp_path), origin="geti")
    geti = api.models_specific_model_snapshot(geti_id)
    assert geti.custom is False
    geti.description = "not mine to change"
    with pytest.raises(ForbiddenException) as refused:
        api.model_update(model=geti)
    assert refused.value.status == 403 and "imported from Geti" in refused.value.body

    other = upload(live, model_zip(tmp_path))
    clash = api.models_specific_model_snapshot(other)
    clash.name, clash.version = snapshot.name, snapshot.version  # the identity of another model
    with pytest.raises(ConflictException) as taken:
        api.model_update(model=clash)
    assert "already registered" in taken.value.body

    # A value of the wrong type, sent as raw JSON through the client's own transport.
    response = api.api_client.call_api(
        "POST",
        f"{live.url}/model/update",
        header_params={"Content-Type": "application/json"},
        body={"id": model_id, "denied": "no"},
    )
    response.read()
    with pytest.raises(UnprocessableEntityException) as invalid:
        api.api_client.response_deserialize(response, {"200": "Model"})
    assert invalid.value.status == 422 and "denied" in invalid.value.body
