"""schemathesis over the whole OpenAPI document of a live modelhub: no request it generates may get a 5xx.

The server is real (uvicorn + django-q2 worker) with the fake Geti (tests/fakes/geti.py) behind GETI_*.
Path parameters and ids in bodies are drawn either as schemathesis generates them or from real objects: a
served OpenVINO IR model, deploy and delete tasks, a Geti project and an import job, so the fuzzing reaches
past the 404s. An operation that deletes or unloads a real object is followed by putting it back. The run is
derandomized (the same examples on every run) and bounded by MAX_EXAMPLES per operation.
"""

import os
import re
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

from tests.fakes.geti import FakeGeti
from tests.live import LiveService, live_service
from tests.modelfiles import build_constant_model, ir_zip

pytestmark = [pytest.mark.live, pytest.mark.timeout(1200)]  # one test item runs every operation

MAX_EXAMPLES = int(os.environ.get("MODELHUB_FUZZ_EXAMPLES", "12"))  # per operation and generation mode
MODEL_ID = "fuzz-ir"
DEPLOY_MODEL_ID = "fuzz-deploy"


@dataclass
class RealObjects:
    """Ids of real objects on the live server, by the parameter names the schema uses for them."""

    live: LiveService
    archive: bytes
    values: dict[str, list[str]] = field(default_factory=dict)
    servable: str = ""

    def register(self, model_id: str, name: str) -> None:
        response = requests.post(
            f"{self.live.url}/models",
            files={"file": ("m.zip", self.archive, "application/zip")},
            data={"id": model_id, "name": name, "version": "1"},
            timeout=30,
        )
        assert response.status_code in (201, 409), response.text

    def serve(self) -> None:
        result = self.live.manage("serve_model", MODEL_ID, "--wait", "--timeout", "120", check=False)
        assert result.returncode == 0, result.stdout + result.stderr + self.live.log_tail()
        self.servable = re.search(r"served as (\S+) version", result.stdout).group(1)  # type: ignore[union-attr]

    def restore(self) -> None:
        """Put back what a fuzzed DELETE or unload took away (cheap when nothing did)."""
        if requests.get(f"{self.live.url}/models/{MODEL_ID}", timeout=10).status_code == 404:
            self.register(MODEL_ID, "fuzz")
        if requests.get(f"{self.live.url}/v2/models/{self.servable}/ready", timeout=10).status_code != 200:
            self.serve()
        if requests.get(f"{self.live.url}/models/{DEPLOY_MODEL_ID}", timeout=10).status_code == 404:
            self.register(DEPLOY_MODEL_ID, "fuzz-deploy")


def wait_until_final(url: str, task_id: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if requests.get(f"{url}/deploy/{task_id}", timeout=10).json()["status"] not in (
            "pending",
            "processing",
        ):
            return
        time.sleep(0.2)
    raise AssertionError(f"deploy task {task_id} did not end")


@pytest.fixture(scope="module")
def geti() -> Iterator[FakeGeti]:
    with FakeGeti() as server:
        yield server


@pytest.fixture(scope="module")
def real(geti: FakeGeti, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealObjects]:
    folder = tmp_path_factory.mktemp("fuzz")
    env = geti.env(
        MODELHUB_AUTH="off",
        GETI_IMPORT_WAIT_SECONDS="1",
        GETI_RETRIES="0",
        GETI_TIMEOUT_SECONDS="5",
        GETI_RETRY_BACKOFF_SECONDS="0.05",
        MODELHUB_LOAD_WAIT_SECONDS="5",
        MODELHUB_DOWNLOAD_RETRIES="0",
        MODELHUB_DOWNLOAD_READ_TIMEOUT="2",
        MODELHUB_LOG_LEVEL="WARNING",
    )
    with live_service(folder / "data", env=env) as live:
        objects = RealObjects(live, ir_zip(build_constant_model(1.0), folder))
        objects.register(MODEL_ID, "fuzz")
        objects.serve()
        objects.register(DEPLOY_MODEL_ID, "fuzz-deploy")
        url = live.url
        deploy = requests.post(f"{url}/deploy", json={"model_id": DEPLOY_MODEL_ID}, timeout=30)
        assert deploy.status_code == 201, deploy.text
        wait_until_final(url, deploy.json()["task_id"])
        undeploy = requests.post(f"{url}/delete", json={"model_id": DEPLOY_MODEL_ID}, timeout=30)
        assert deploy.status_code < 300 and undeploy.status_code < 300, (deploy.text, undeploy.text)
        group, _, optimized = geti.optimized("Vehicle detection", "YOLOX", 2, "OpenVINO", "FP16")
        geti.slow[optimized.id] = 3.0  # longer than GETI_IMPORT_WAIT_SECONDS: the import answers 202 + job
        project = geti.project("Vehicle detection").id
        job = requests.post(
            f"{url}/projects/{project}/geti-models/download",
            json={"models": [{"id": optimized.id, "group_id": group.id}]},
            timeout=30,
        )
        assert job.status_code == 202, job.text
        objects.values = {
            "model_id": [MODEL_ID, DEPLOY_MODEL_ID],
            "model": [MODEL_ID],
            "id": [MODEL_ID],
            "task_id": [deploy.json()["task_id"], undeploy.json()["task_id"]],
            "project_id": [project],
            "job_id": [job.json()["job_id"]],
            "group_id": [group.id],
            "name": [objects.servable],
            "version": ["1"],
        }
        yield objects


@pytest.fixture(scope="module")
def api_schema(real: RealObjects) -> Any:
    schema = schemathesis.openapi.from_url(f"{real.live.url}/api/schema/?format=json", timeout=30)

    def real_or_generated(values: Any) -> Any:
        """Half of the generated dicts (chosen by their content, so runs repeat) get real ids."""
        if not isinstance(values, dict) or not set(values) & set(real.values):
            return values
        pick = zlib.crc32(repr(sorted(values.items(), key=str)).encode())
        if pick % 2:
            return values
        return {
            key: real.values[key][pick // 2 % len(real.values[key])] if key in real.values else value
            for key, value in values.items()
        }

    def map_path_parameters(context: Any, path_parameters: Any) -> Any:
        return real_or_generated(path_parameters)

    def map_body(context: Any, body: Any) -> Any:
        return real_or_generated(body)

    schema.hook(map_path_parameters)
    schema.hook(map_body)
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,  # the same examples on every run (CI), no example database
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_anywhere(case: Any, real: RealObjects) -> None:
    real.restore()
    response = case.call(base_url=real.live.url, timeout=60)
    case.validate_response(response, checks=[not_a_server_error])
