"""Load and unload: put a downloaded model in service on every server process, or take it out.

Both go through the inference services (the serving state in the database), so every server process on
every host follows; the call waits a bounded time for the processes to report back.
"""

import logging

from django.conf import settings

from config.errors import ServiceError
from inference import services as serving
from inference.lifecycle.models import DownloadStatus
from inference.lifecycle.nodes import download_state
from inference.lifecycle.selectors import model_get
from inference.models import VersionState
from inference.selectors import served_versions_of, serving_status
from registry.models import Model

logger = logging.getLogger(__name__)


class NotDownloaded(ServiceError):
    status_code = 409


class NotLoaded(ServiceError):
    status_code = 409


class LoadFailed(ServiceError):
    status_code = 500


def model_load(*, model_id: str) -> Model:
    """Serve the model (under its servable name) and wait until every live server process has it AVAILABLE."""
    model = model_get(model_id=model_id)
    if download_state(model_id)[0]["status"] != DownloadStatus.COMPLETED:
        raise NotDownloaded(
            f"Model {model_id} is not downloaded to every node: POST /model/{model_id}/download first."
        )
    served = serving.servable_load(model_id=model_id)
    name, version = served.servable.name, served.version
    if not serving.wait_for_version(name, version, timeout=settings.LIFECYCLE_LOAD_WAIT_SECONDS):
        status = serving_status(name, version)
        if status.errors:
            serving.servable_unload(model_id=model_id)
            raise LoadFailed(
                f"Model {model_id} could not be loaded as {name}:{version}: {'; '.join(status.errors)}"
            )
        logger.warning(
            "Model %s is still loading as %s:%s (%s of %s processes)",
            model_id,
            name,
            version,
            status.available_on,
            status.processes,
        )
    return model


def model_unload(*, model_id: str) -> Model:
    """Stop serving the model everywhere and wait until no live server process holds it (its memory is freed)."""
    model = model_get(model_id=model_id)
    served = served_versions_of(model_id)
    if not served:
        raise NotLoaded(f"Model {model_id} is not loaded.")
    serving.servable_unload(model_id=model_id)
    for row in served:
        serving.wait_for_version(
            row.servable.name,
            row.version,
            timeout=settings.LIFECYCLE_LOAD_WAIT_SECONDS,
            state=VersionState.END,
        )
    return model
