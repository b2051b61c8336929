"""Serving-state services and the runtime reconciled in this process (real database, real OpenVINO)."""

from datetime import timedelta

import numpy as np
import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from config.errors import ServiceError, ValidationFailed
from inference.models import (
    Servable,
    ServedVersion,
    ServingGeneration,
    ServingProcess,
    VersionReport,
    VersionState,
)
from inference.runtime import AVAILABLE, END, Runtime
from inference.selectors import live_processes, serving_status, version_progress
from inference.services import (
    servable_load,
    servable_set_default,
    servable_unload,
    served_version_retain,
    wait_for_version,
)
from tests.modelfiles import build_constant_model, ir_zip, magika_onnx, onnx_zip

pytestmark = pytest.mark.django_db


def upload(client: APIClient, archive: bytes, *, model_id: str, name: str, version: str) -> str:
    response = client.post(
        "/models",
        {
            "file": SimpleUploadedFile("m.zip", archive, content_type="application/zip"),
            "id": model_id,
            "name": name,
            "version": version,
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    return model_id


@pytest.fixture
def client() -> APIClient:
    return APIClient()


@pytest.fixture
def constants(client, tmp_path):
    """Two versions of one model: outputs all 1.0 and all 2.0."""
    upload(client, ir_zip(build_constant_model(1.0), tmp_path), model_id="c1", name="const", version="1")
    upload(client, ir_zip(build_constant_model(2.0), tmp_path), model_id="c2", name="const", version="2")
    return "c1", "c2"


class TestServableLoad:
    def test_serves_under_the_model_name_and_integer_version(self, constants):
        before = ServingGeneration.current()
        served = servable_load(model_id="c2")
        assert (served.servable.name, served.version) == ("const", 2)
        assert ServingGeneration.current() == before + 1
        again = servable_load(model_id="c2", config={"nireq": 2})
        assert again.pk == served.pk and Servable.objects.get(name="const").nireq == 2

    def test_name_override_and_version_collision(self, constants):
        first = servable_load(model_id="c1", config={"name": "shared"})
        second = servable_load(
            model_id="c2", config={"name": "shared", "plugin_config": {"PERFORMANCE_HINT": "LATENCY"}}
        )
        assert (first.version, second.version) == (1, 2)
        assert Servable.objects.get(name="shared").plugin_config == {"PERFORMANCE_HINT": "LATENCY"}

    def test_invalid_settings_are_422(self, constants):
        with pytest.raises(ValidationFailed) as caught:
            servable_load(model_id="c1", config={"nireq": 0, "colour": "red"})
        assert caught.value.errors[0]["loc"] == ["body", "config", "colour"]
        with pytest.raises(ValidationFailed):
            servable_load(model_id="c1", config={"version_policy": {"latest": {"num_versions": 0}}})

    def test_unknown_model_is_404(self):
        with pytest.raises(ServiceError) as caught:
            servable_load(model_id="nope")
        assert caught.value.status_code == 404

    def test_unload_removes_the_servable_when_empty(self, constants):
        servable_load(model_id="c1")
        servable_load(model_id="c2")
        servable_set_default(name="const", version=1)
        assert servable_unload(model_id="c1") == 1
        servable = Servable.objects.get(name="const")
        assert servable.default_version is None and list(
            servable.versions.values_list("version", flat=True)
        ) == [2]
        assert servable_unload(model_id="c2") == 1
        assert not Servable.objects.filter(name="const").exists()
        assert servable_unload(model_id="c2") == 0

    def test_served_model_cannot_be_deleted_from_the_registry(self, client, constants):
        servable_load(model_id="c1")
        response = client.delete("/models/c1")
        assert response.status_code == 409 and "c1" in response.content.decode()
        servable_unload(model_id="c1")
        assert client.delete("/models/c1").status_code == 204


class TestReportsAndProcesses:
    def _process(self, name: str, *, age: float = 0.0, generation: int = 0) -> ServingProcess:
        now = timezone.now() - timedelta(seconds=age)
        return ServingProcess.objects.create(
            pk=name, host="h", pid=1, started_at=now, last_seen=now, generation_seen=generation
        )

    def test_wait_for_version_needs_every_live_process(self, constants):
        served = servable_load(model_id="c1")
        generation = ServingGeneration.current()
        a = self._process("a", generation=generation)
        b = self._process("b", generation=generation)
        self._process("dead", age=60)  # stale: ignored
        VersionReport.objects.create(
            process=a, servable_name="const", version=served.version, state=AVAILABLE, warmed_up=True
        )
        assert version_progress("const", 1, VersionState.AVAILABLE) is None
        assert wait_for_version("const", 1, timeout=0.3, poll=0.05) is False
        VersionReport.objects.create(
            process=b, servable_name="const", version=1, state=AVAILABLE, warmed_up=True
        )
        assert wait_for_version("const", 1, timeout=1) is True
        assert serving_status("const", 1).loaded
        assert [p.pk for p in live_processes()] == ["a", "b"]

    def test_a_failed_load_ends_the_wait_at_once(self, constants):
        servable_load(model_id="c1")
        process = self._process("a", generation=ServingGeneration.current())
        VersionReport.objects.create(
            process=process,
            servable_name="const",
            version=1,
            state=20,
            error_code="UNKNOWN",
            error_message="boom",
        )
        assert wait_for_version("const", 1, timeout=30) is False
        assert serving_status("const", 1).errors == ["boom"]

    def test_unloaded_means_no_live_process_holds_it(self):
        process = self._process("a")
        VersionReport.objects.create(process=process, servable_name="gone", version=1, state=AVAILABLE)
        assert version_progress("gone", 1, VersionState.END) is None
        VersionReport.objects.filter(process=process).delete()
        assert wait_for_version("gone", 1, timeout=1, state=VersionState.END) is True

    def test_heartbeat_registers_this_process_and_removes_stale_ones(self):
        self._process("dead", age=60)
        runtime = Runtime()
        runtime._heartbeat(cleanup=True)
        assert list(ServingProcess.objects.values_list("pk", flat=True)) == [runtime.process_id]


class TestRuntimeInProcess:
    """The reconciler's logic, run synchronously against this test's database."""

    def test_loads_pins_switches_and_retires(self, constants):
        runtime = Runtime()
        servable_load(model_id="c1")
        servable_load(model_id="c2")
        servable_set_default(name="const", version=1)
        assert runtime.reconcile() is True
        view = runtime.servable("const")
        assert {n: v.state for n, v in view.versions.items()} == {1: AVAILABLE, 2: AVAILABLE}
        assert view.resolve(None).version == 1 and view.resolve(2).version == 2
        assert runtime.reconcile() is False  # nothing changed

        switch = timezone.now() + timedelta(seconds=30)
        servable_set_default(name="const", version=2, switch_at=switch)
        runtime.reconcile()
        view = runtime.servable("const")
        assert (view.default_version, view.previous_default_version) == (2, 1)
        assert view.resolve(None).version == 1  # until the switch moment
        object.__setattr__(view, "switch_at", (timezone.now() - timedelta(seconds=1)).timestamp())
        assert view.resolve(None).version == 2

        Servable.objects.filter(name="const").update(
            version_policy={"latest": {"num_versions": 1}},
            default_version=None,
            previous_default_version=None,
        )
        served_version_retain(name="const", version=1, until=timezone.now() + timedelta(seconds=30))
        runtime.reconcile()
        assert runtime.servable("const").versions[1].state == AVAILABLE  # kept while it drains
        ServedVersion.objects.filter(version=1).update(retain_until=timezone.now() - timedelta(seconds=1))
        assert runtime.reconcile() is True
        assert runtime.servable("const").versions[1].state == END
        with pytest.raises(Exception) as caught:
            runtime.servable("const").resolve(1)
        assert caught.value.text == "Model with requested version is retired"

    def test_inference_through_the_runtime_and_django_views(self, client, constants, monkeypatch):
        import inference.runtime

        upload(client, onnx_zip(magika_onnx()), model_id="mg", name="magika", version="5")
        servable_load(model_id="mg")
        servable_load(model_id="c1")
        runtime = Runtime()
        runtime.reconcile()
        monkeypatch.setattr(inference.runtime, "_runtime", runtime)

        data = np.arange(2048, dtype=np.int32).reshape(1, 2048) % 256
        body = {
            "inputs": [
                {"name": "bytes", "shape": [1, 2048], "datatype": "INT32", "data": data.ravel().tolist()}
            ]
        }
        response = client.post(
            "/v2/models/magika/versions/5/infer", data=orjson.dumps(body), content_type="application/json"
        )
        assert response.status_code == 200, response.content
        result = orjson.loads(response.content)
        assert result["model_version"] == "5" and result["outputs"][0]["shape"] == [1, 214]

        predict = client.post(
            "/v1/models/const:predict",
            data=orjson.dumps({"instances": [[1, 2, 3, 4]]}),
            content_type="application/json",
        )
        assert orjson.loads(predict.content) == {"predictions": [[1.0, 1.0, 1.0, 1.0]]}
        wrong = client.get("/v1/models/const:predict")
        assert (wrong.status_code, orjson.loads(wrong.content)) == (406, {"error": "Unsupported method"})
        missing = client.get("/v2/models/nope")
        assert (missing.status_code, orjson.loads(missing.content)) == (
            404,
            {"error": "Model with requested name is not found"},
        )


def test_every_inference_route_is_in_the_openapi_schema():
    from drf_spectacular.generators import SchemaGenerator

    paths = set(SchemaGenerator().get_schema(request=None, public=True)["paths"])
    expected = {
        "/v1/models/{name}", "/v1/models/{name}/versions/{version}", "/v1/models/{name}/metadata",
        "/v1/models/{name}/versions/{version}/metadata", "/v1/models/{name}:predict",
        "/v1/models/{name}/versions/{version}:predict", "/v1/config", "/v1/config/reload", "/v2", "/v2/health/live",
        "/v2/health/ready", "/v2/models/{name}", "/v2/models/{name}/versions/{version}", "/v2/models/{name}/ready",
        "/v2/models/{name}/versions/{version}/ready", "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer", "/metrics", "/v2/models/stats", "/v2/models/{name}/stats",
        "/v2/models/{name}/versions/{version}/stats", "/v2/models/{name}/config",
        "/v2/models/{name}/versions/{version}/config", "/v2/repository/index", "/v2/repository/models/{name}/load",
        "/v2/repository/models/{name}/unload",
    }  # fmt: skip
    assert expected <= paths
