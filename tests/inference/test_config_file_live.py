"""An OVMS config.json (MODEL_CONFIG_PATH) with OVMS-layout folders, as an existing OVMS setup moves over."""

import time
from pathlib import Path

import numpy as np
import openvino as ov
import orjson
import pytest
import requests
from openvino import opset13 as ops

from tests.live import live_service
from tests.modelfiles import build_constant_model, save_ir

pytestmark = pytest.mark.live


def dynamic_model() -> ov.Model:
    x = ops.parameter([-1, -1], np.float32, name="x")
    y = ops.multiply(x, ops.constant(np.float32(3)))
    y.output(0).get_tensor().set_names({"y"})
    return ov.Model([ops.result(y)], [x], "times_three")


def write_config(path: Path, models: list[dict]) -> None:
    path.write_bytes(orjson.dumps({"model_config_list": [{"config": model} for model in models]}))


def statuses(url: str, name: str) -> dict[str, str]:
    body = requests.get(f"{url}/v1/models/{name}", timeout=5).json()
    return {item["version"]: item["state"] for item in body["model_version_status"]}


def wait_for(check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (requests.RequestException, KeyError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


def test_config_json_models_policies_reload_and_errors(tmp_path):
    repository = tmp_path / "models"
    for version in (1, 2):
        save_ir(build_constant_model(float(version)), repository / "const" / str(version))
    save_ir(dynamic_model(), repository / "dyn" / "1")
    config = tmp_path / "config.json"
    models = [
        {"name": "const", "base_path": str(repository / "const")},  # OVMS default policy: latest 1
        {
            "name": "dyn",
            "base_path": "models/dyn",
            "shape": "(2,3)",
            "nireq": 2,
            "plugin_config": {"PERFORMANCE_HINT": "LATENCY"},
        },
    ]
    write_config(config, models)

    with live_service(tmp_path / "data", with_worker=False, env={"MODEL_CONFIG_PATH": str(config)}) as server:
        url = server.url
        wait_for(
            lambda: (
                statuses(url, "const") == {"2": "AVAILABLE"} and statuses(url, "dyn") == {"1": "AVAILABLE"}
            )
        )
        predict = requests.post(
            f"{url}/v1/models/const:predict", json={"instances": [[0, 0, 0, 0]]}, timeout=5
        ).json()
        assert predict == {"predictions": [[2.0, 2.0, 2.0, 2.0]]}
        metadata = requests.get(f"{url}/v2/models/dyn", timeout=5).json()
        assert metadata["inputs"] == [
            {"name": "x", "datatype": "FP32", "shape": [2, 3]}
        ]  # reshaped by `shape`
        assert requests.post(f"{url}/v1/config/reload", timeout=30).status_code == 200  # nothing to do

        # A new version folder appears: served, and the older one retired (latest 1), as OVMS polls the folder.
        save_ir(build_constant_model(3.0), repository / "const" / "3")
        wait_for(lambda: statuses(url, "const") == {"2": "END", "3": "AVAILABLE"})

        # Policy changed in the file, applied at once by POST /v1/config/reload: 201, body = every status.
        models[0]["model_version_policy"] = {"specific": {"versions": [1, 3]}}
        write_config(config, models)
        reload = requests.post(f"{url}/v1/config/reload", timeout=60)
        assert reload.status_code == 201, reload.text
        body = reload.json()
        assert {s["version"]: s["state"] for s in body["const"]["model_version_status"]} == {
            "1": "AVAILABLE",
            "2": "END",
            "3": "AVAILABLE",
        }
        assert body == requests.get(f"{url}/v1/config", timeout=5).json()
        assert requests.post(f"{url}/v1/config/reload", timeout=30).status_code == 200
        one = requests.post(f"{url}/v2/models/const/versions/1/infer", timeout=5,
                            json={"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0, 0, 0, 0]}]}).json()  # fmt: skip
        assert one["outputs"][0]["data"] == [1.0, 1.0, 1.0, 1.0]

        config.write_text("{ not json")
        broken = requests.post(f"{url}/v1/config/reload", timeout=30)
        assert (broken.status_code, broken.json()) == (
            412,
            {"error": "Reloading config file failed. Check server logs for more info."},
        )
        assert statuses(url, "const")["3"] == "AVAILABLE"  # models keep serving meanwhile
        config.unlink()
        missing = requests.post(f"{url}/v1/config/reload", timeout=30)
        assert (missing.status_code, missing.json()) == (
            500,
            {"error": "Config file not found or cannot open."},
        )

        # A model removed from the file is retired; its name stays known with END versions (OVMS).
        write_config(config, models[1:])
        assert requests.post(f"{url}/v1/config/reload", timeout=30).status_code == 201
        assert set(statuses(url, "const").values()) == {"END"}
        gone = requests.post(f"{url}/v1/models/const:predict", json={"instances": [[0, 0, 0, 0]]}, timeout=5)
        assert (gone.status_code, gone.json()) == (404, {"error": "Model with requested version is retired"})
