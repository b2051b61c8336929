"""Two server processes agree through the database: both serve after serve_model, both switch the default
version at the same announced instant, and /metrics of either one counts the requests of both."""

import time

import orjson
import pytest
import requests

from tests.inference.conftest import register, serve
from tests.live import live_service
from tests.modelfiles import build_constant_model, ir_zip

pytestmark = pytest.mark.live


def served_value(url: str) -> float:
    # No session: a new connection each time, so the kernel spreads the requests over both processes.
    response = requests.post(f"{url}/v1/models/const:predict", json={"instances": [[0, 0, 0, 0]]}, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["predictions"][0][0]


def test_two_processes_serve_and_switch_together(tmp_path):
    with live_service(tmp_path / "data", workers=2, with_worker=False) as server:
        register(
            server, ir_zip(build_constant_model(1.0), tmp_path), model_id="c1", name="const", version="1"
        )
        register(
            server, ir_zip(build_constant_model(2.0), tmp_path), model_id="c2", name="const", version="2"
        )
        serve(server, "c1")
        server.manage(
            "shell",
            "-c",
            "from inference.services import servable_set_default as d; d(name='const', version=1)",
        )
        serve(server, "c2")

        asked = time.monotonic()
        status = orjson.loads(server.manage("serving_status", "--json").stdout)
        status_seconds = time.monotonic() - asked  # one look at the state; slow when the machine is busy
        assert len(status["processes"]) == 2
        versions = status["servables"][0]["versions"]
        assert [[r["state"] for r in v["reports"]] for v in versions] == [
            ["AVAILABLE", "AVAILABLE"],
            ["AVAILABLE", "AVAILABLE"],
        ]
        assert all(r["warmed_up"] for v in versions for r in v["reports"])
        assert {served_value(server.url) for _ in range(20)} == {1.0}  # pinned to version 1

        # Announce the switch far enough ahead for a few looks at the state, however busy the machine is.
        switch_at = time.time() + max(10.0, 6 * status_seconds)
        server.manage(
            "shell", "-c",
            "import datetime as dt; from inference.services import servable_set_default as d; "
            f"d(name='const', version=2, switch_at=dt.datetime.fromtimestamp({switch_at}, dt.timezone.utc))",
        )  # fmt: skip
        while True:  # both processes learn the switch moment in advance (they heartbeat what they have seen)
            status = orjson.loads(server.manage("serving_status", "--json").stdout)
            if all(p["generation_seen"] == status["generation"] for p in status["processes"]):
                break
            assert time.time() < switch_at - 0.5, "the processes did not pick up the new default in time"
        before = []
        while time.time() < switch_at - 0.3:
            before.append(served_value(server.url))
        time.sleep(max(switch_at + 0.3 - time.time(), 0))
        after = [served_value(server.url) for _ in range(30)]
        assert (set(before), set(after)) == ({1.0}, {2.0})

        # Any process reports the requests of both (each writes its counts within half a second).
        sent = 20 + len(before) + 30
        deadline = time.monotonic() + 10
        while (total := _predicted(server.url)) != sent and time.monotonic() < deadline:
            time.sleep(0.2)
        assert total == sent
        assert len(_processes_that_served(server.data_dir / "metrics", "const")) == 2


def _predicted(url: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=5).text
    prefix = 'ovms_requests_success{api="TensorFlowServing",interface="REST",method="Predict",name="const"'
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def _processes_that_served(folder, name: str) -> set[str]:
    """Server processes (metric files are per process id) that counted a successful predict for `name`."""
    from prometheus_client.mmap_dict import MmapedDict

    serving = set()
    for path in folder.glob("counter_*.db"):
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
            if value > 0 and "ovms_requests_success" in key and f'"{name}"' in key:
                serving.add(path.name)
    return serving
