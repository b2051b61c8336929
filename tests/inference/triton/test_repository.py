"""Triton's model repository on the registry and the serving services (real database, real OpenVINO)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from inference.models import Servable, ServedVersion
from inference.runtime import Runtime
from inference.triton import TritonError
from inference.triton.extensions import model_configuration
from inference.triton.repository import model_load, model_unload, parse_request, repository_index
from tests.modelfiles import build_constant_model, build_simple_model, ir_zip

pytestmark = pytest.mark.django_db


def upload(archive: bytes, *, model_id: str, name: str, version: str) -> None:
    response = APIClient().post(
        "/models",
        {"file": SimpleUploadedFile("m.zip", archive, content_type="application/zip"), "id": model_id,
         "name": name, "version": version},
        format="multipart",
    )  # fmt: skip
    assert response.status_code == 201, response.content


@pytest.fixture
def models(tmp_path):
    upload(ir_zip(build_simple_model(), tmp_path), model_id="simple-1", name="simple", version="1")
    upload(ir_zip(build_constant_model(1.0), tmp_path), model_id="c1", name="My Const", version="1")
    upload(ir_zip(build_constant_model(2.0), tmp_path), model_id="c2", name="My Const", version="2")


def load(name: str, config: str | None = None, runtime: Runtime | None = None) -> None:
    parameters = {} if config is None else {"config": config}
    model_load(name=name, parameters=parameters, servables=runtime.servables if runtime else {}, timeout=5)


def test_index_lists_registry_models_under_their_servable_names(models):
    assert repository_index(servables={}) == [
        {"name": "My-Const", "version": "1", "state": "UNAVAILABLE", "reason": "unloaded"},
        {"name": "My-Const", "version": "2", "state": "UNAVAILABLE", "reason": "unloaded"},
        {"name": "simple", "version": "1", "state": "UNAVAILABLE", "reason": "unloaded"},
    ]
    assert repository_index(servables={}, ready=True) == []


def test_load_serves_the_highest_version_and_the_index_shows_it_ready(models):
    load("My-Const")  # no live server process: returns once the serving state says so
    assert list(ServedVersion.objects.values_list("servable__name", "version", "model_id")) == [
        ("My-Const", 2, "c2")
    ]
    runtime = Runtime()
    runtime.reconcile()
    index = repository_index(servables=runtime.servables)
    assert {"name": "My-Const", "version": "2", "state": "READY", "reason": ""} in index
    assert {"name": "My-Const", "version": "1", "state": "UNAVAILABLE", "reason": "unloaded"} in index
    assert repository_index(servables=runtime.servables, ready=True) == [
        {"name": "My-Const", "version": "2", "state": "READY", "reason": ""}
    ]


def test_config_override_sets_the_batch_range_and_instances(models):
    load("simple")
    runtime = Runtime()
    runtime.reconcile()
    assert model_configuration(runtime, "simple")["max_batch_size"] == 0
    load("simple", '{"max_batch_size": "16", "instance_group": [{"count": 3, "kind": "KIND_CPU"}]}', runtime)
    servable = Servable.objects.get(name="simple")
    assert servable.shape == {"INPUT0": "(1:16,16)", "INPUT1": "(1:16,16)"} and servable.nireq == 3
    runtime.reconcile()
    config = model_configuration(runtime, "simple")
    assert config["max_batch_size"] == 16 and config["input"][0]["dims"] == [16]
    assert config["instance_group"][0]["count"] == 3
    load("simple", '{"max_batch_size": 0}', runtime)
    assert Servable.objects.get(name="simple").shape is None


@pytest.mark.parametrize(
    "name,parameters,text",
    [
        ("wrong_model_name", {}, "failed to load 'wrong_model_name', no registry model is served or servable"),
        ("simple", {"config": '"parameters": {"config": {{"max_batch_size": "16"}}}'}, "failed to load 'simple', failed to parse the config"),
        ("simple", {"config": '{"max_batch_size": -1}'}, "failed to load 'simple', max_batch_size must be a non-negative integer"),
        # a digit string too long for int() (Python refuses > 4300 digits) is a 400, not a 500
        ("simple", {"config": '{"max_batch_size": "' + "9" * 5000 + '"}'}, "failed to load 'simple', max_batch_size must be a non-negative integer below 2^31"),
        ("simple", {"config": '{"instance_group": [{"count": 4294967296}]}'}, "failed to load 'simple', instance_group count must be"),
        ("simple", {"config": '{"name": "other"}'}, "failed to load 'simple', the config names another model"),
        ("simple", {"config": "{}", "file:1/model.onnx": "AAAA"}, "failed to load 'simple', model files in a load request"),
    ],
)  # fmt: skip
def test_load_failures_say_failed_to_load(models, name, parameters, text):
    with pytest.raises(TritonError) as caught:
        model_load(name=name, parameters=parameters, servables={}, timeout=5)
    assert caught.value.status == 400 and caught.value.text.startswith(text)
    assert not ServedVersion.objects.exists()


def test_unload_stops_serving_and_is_a_no_op_for_a_model_not_served(models):
    load("simple")
    model_unload(name="simple", servables={}, timeout=5)
    assert not ServedVersion.objects.exists()
    model_unload(name="simple", servables={}, timeout=5)
    with pytest.raises(TritonError) as caught:
        model_unload(name="nothing-here", servables={}, timeout=5)
    assert caught.value.text == "failed to unload 'nothing-here', no model with this name"


def test_request_bodies():
    assert parse_request(b"") == {} and parse_request(b'{"ready": true}') == {"ready": True}
    for body in (b"{", b"[1]"):
        with pytest.raises(TritonError):
            parse_request(body)
