"""plugin_config from a request is an allow-list of OpenVINO properties with checked values (issue 20, finding 8):
CACHE_DIR made the server create and write any directory its user could write."""

from pathlib import Path

import numpy as np
import openvino as ov
import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from openvino import opset13 as ops
from rest_framework.test import APIClient

from config.errors import ValidationFailed
from inference import plugin_config
from inference.models import Servable
from inference.runtime import _plugin_config
from inference.services import servable_load
from tests.modelfiles import build_constant_model, ir_zip

# A sample of what each allowed property accepts (the test below compiles every one on CPU).
SAMPLES = {
    "PERFORMANCE_HINT": "latency",
    "PERFORMANCE_HINT_NUM_REQUESTS": 2,
    "NUM_STREAMS": "AUTO",
    "INFERENCE_NUM_THREADS": 1,
    "INFERENCE_PRECISION_HINT": "f32",
    "EXECUTION_MODE_HINT": "ACCURACY",
    "ENABLE_CPU_PINNING": False,
    "ENABLE_HYPER_THREADING": "NO",
    "SCHEDULING_CORE_TYPE": "ANY_CORE",
    "DYNAMIC_QUANTIZATION_GROUP_SIZE": 32,
    "KV_CACHE_PRECISION": "f16",
}


def test_every_allowed_property_compiles_on_cpu_with_real_openvino() -> None:
    assert set(SAMPLES) == set(plugin_config.ALLOWED)
    parameter = ops.parameter([1, 4], np.float32, name="x")
    model = ov.Model([ops.relu(parameter)], [parameter])
    core = ov.Core()
    for name, value in plugin_config.checked(SAMPLES).items():
        core.compile_model(model, "CPU", _plugin_config({name: value}))


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"CACHE_DIR": "/tmp/anywhere"}, "CACHE_DIR is not a property a request may set"),
        ({"WEIGHTS_PATH": "/etc/passwd"}, "WEIGHTS_PATH is not a property"),
        ({"NUM_STREAMS": 100_000}, "NUM_STREAMS must be AUTO | NUMA | an integer from 1 to"),
        ({"INFERENCE_NUM_THREADS": -1}, "INFERENCE_NUM_THREADS must be an integer from 0 to"),
        ({"INFERENCE_NUM_THREADS": True}, "INFERENCE_NUM_THREADS must be"),
        ({"PERFORMANCE_HINT": "FASTEST"}, "PERFORMANCE_HINT must be LATENCY | THROUGHPUT"),
        ({"ENABLE_CPU_PINNING": "maybe"}, "ENABLE_CPU_PINNING must be true | false"),
        ([("PERFORMANCE_HINT", "LATENCY")], "must be an object"),
    ],
)
def test_other_properties_and_bad_values_are_refused_by_name(raw, words) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(plugin_config.PluginConfigInvalid, match=words):
        plugin_config.checked(raw)


def test_values_are_normalized() -> None:
    assert plugin_config.checked(
        {"PERFORMANCE_HINT": "latency", "NUM_STREAMS": "2", "ENABLE_CPU_PINNING": "YES"}
    ) == {
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": 2,
        "ENABLE_CPU_PINNING": True,
    }


@pytest.mark.django_db(transaction=True)
def test_deploy_and_serving_refuse_cache_dir_and_nothing_is_created(tmp_path: Path) -> None:
    client = APIClient()
    archive = ir_zip(build_constant_model(1.0), tmp_path)
    model_id = client.post(
        "/models",
        {"file": SimpleUploadedFile("m.zip", archive), "name": "c", "version": "1"},
        format="multipart",
    ).content.decode()
    target = tmp_path / "written-by-a-request"
    deploy = client.post(
        "/deploy",
        {"model_id": model_id, "config": {"plugin_config": {"CACHE_DIR": str(target)}}},
        format="json",
    )
    assert deploy.status_code == 400
    assert "CACHE_DIR is not a property a request may set" in deploy.json()["detail"]
    with pytest.raises(ValidationFailed, match="CACHE_DIR"):
        servable_load(model_id=model_id, config={"plugin_config": {"CACHE_DIR": str(target)}})
    assert not target.exists()


def _add_form(client: Client) -> dict[str, str]:
    """The admin's Servable add form as a browser would post it with its defaults (whatever fields it has)."""
    form = client.get(ADD).context["adminform"].form
    data: dict[str, str] = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = str(field.prepare_value(value)) if hasattr(field, "prepare_value") else str(value)
    data.update({"versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0"})
    return data


ADD = "/admin/inference/servable/add/"


@pytest.mark.django_db
def test_the_servable_admin_refuses_cache_dir() -> None:
    User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(User.objects.get(username="root"))
    form = {**_add_form(client), "name": "s", "plugin_config": '{"CACHE_DIR": "/tmp/x"}'}
    response = client.post(ADD, form)
    assert response.status_code == 200 and "CACHE_DIR is not a property" in response.content.decode()
    assert not Servable.objects.exists()
    form["plugin_config"] = '{"PERFORMANCE_HINT": "latency"}'
    response = client.post(ADD, form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Servable.objects.get(name="s").plugin_config == {"PERFORMANCE_HINT": "LATENCY"}
