"""Deployment files against a live server: deploy/grafana/modelhub.json queries what /metrics serves (every metric
name and label its PromQL uses exists after a little real REST, gRPC and /v3 traffic, successes and failures: the
tiny genai models of inference/genai/builder.py serve the /v3 part), and the image's HEALTHCHECK script tells a live
server from a dead port."""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import requests
import tritonclient.grpc as triton_grpc
import urllib3

from tests.deploy.code_reads import ROOT
from tests.inference.conftest import register, serve
from tests.live import LiveService, free_port, live_service
from tests.modelfiles import build_constant_model, ir_zip

pytestmark = pytest.mark.live

DASHBOARD = ROOT / "deploy" / "grafana" / "modelhub.json"
# a metric reference: name{selector} or name[range]
METRIC = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=\{|\[)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
SELECTOR_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
PROMETHEUS_LABELS = {
    "le",
    "job",
    "instance",
    "namespace",
    "pod",
}  # le is histograms'; the rest Prometheus adds


def queries(dashboard: dict) -> list[str]:
    found = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            series = re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", variable["query"]["query"])
            found.append(series if "{" in series else series + "{}")  # a bare name selects the metric too
    return found


def samples(text: str) -> dict[str, set[str]]:
    """{sample name: label names seen on it} of a Prometheus text exposition."""
    seen: dict[str, set[str]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition("{")
        if not rest:
            name = line.split()[0]
        labels = set(re.findall(r'(\w+)="', rest.split("}")[0])) if rest else set()
        seen.setdefault(name, set()).update(labels)
    return seen


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, genai_zips: dict[str, bytes]) -> Iterator[LiveService]:
    folder = tmp_path_factory.mktemp("deploy-live")
    with live_service(folder / "data", with_worker=False) as service:
        register(service, ir_zip(build_constant_model(3.0), folder), model_id="three", name="three")
        for key in ("llm", "embed"):
            register(service, genai_zips[key], model_id=key, name=f"tiny-{key}")
        serve(service, "three", "llm", "embed")
        yield service


@pytest.fixture(scope="module")
def metrics_text(service: LiveService) -> str:
    return _traffic_then_metrics(service)


def _traffic_then_metrics(service: LiveService) -> str:
    body = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    for _ in range(3):
        assert requests.post(f"{service.url}/v2/models/three/infer", json=body, timeout=10).status_code == 200
    wrong = {"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}
    assert requests.post(f"{service.url}/v2/models/three/infer", json=wrong, timeout=10).status_code == 400
    assert requests.post(
        f"{service.url}/v1/models/three:predict", json={"instances": [[1, 2, 3, 4]]}, timeout=10
    ).ok
    client = triton_grpc.InferenceServerClient(service.grpc_address)
    tensor = triton_grpc.InferInput("input", [1, 4], "FP32")
    tensor.set_data_from_numpy(__import__("numpy").ones((1, 4), dtype="float32"))
    client.infer("three", [tensor])
    client.close()
    _v3_traffic(service)
    # the server processes flush their metrics twice a second: wait for the last /v3 request's
    failed = 'ovms_requests_fail{api="V3",interface="REST",method="ChatCompletions",name="tiny-llm"'
    deadline = time.monotonic() + 30
    while True:
        response = requests.get(f"{service.url}/metrics", timeout=10)
        assert response.status_code == 200
        if failed in response.text and "modelhub_llm_time_per_output_token_ms_bucket{" in response.text:
            return response.text
        assert time.monotonic() < deadline, f"no /v3 metrics 30 s after the traffic: {response.text}"
        time.sleep(0.3)


def _v3_traffic(service: LiveService) -> None:
    """A streamed chat completion and an embeddings call that succeed, then a streamed chat completion the client
    abandons after its first event (the server cancels it and counts a failed ChatCompletions request)."""
    v3 = openai.OpenAI(base_url=f"{service.url}/v3", api_key="unused", max_retries=0, timeout=60)
    stream = v3.chat.completions.create(
        model="tiny-llm", messages=[{"role": "user", "content": "hello"}], max_tokens=6, temperature=0,
        stream=True, stream_options={"include_usage": True}, extra_body={"ignore_eos": True},
    )  # fmt: skip
    assert [chunk.usage.completion_tokens for chunk in stream if chunk.usage is not None] == [6]
    assert len(v3.embeddings.create(model="tiny-embed", input=["one", "two"]).data) == 2
    v3.close()
    body = {
        "model": "tiny-llm", "messages": [{"role": "user", "content": "go on"}], "max_tokens": 2000,
        "ignore_eos": True, "stream": True,
    }  # fmt: skip
    with requests.post(f"{service.url}/v3/chat/completions", json=body, stream=True, timeout=30) as dropped:
        assert dropped.status_code == 200
        assert next(dropped.iter_lines()).startswith(b"data: ")
    # leaving the block closes the connection mid-stream


def test_every_metric_the_dashboard_queries_is_served(metrics_text: str) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    served = samples(metrics_text)
    expressions = queries(dashboard)
    assert len(expressions) >= 15
    used: set[str] = set()
    for expression in expressions:
        names = set(METRIC.findall(expression)) - {"by", "without"}
        assert names, f"no metric in {expression!r}"
        leftover = METRIC.sub("", expression)
        assert "ovms_" not in leftover and "modelhub_" not in leftover, (
            f"a metric without a selector: {expression}"
        )
        for name in names:
            assert name in served, f"{name} (dashboard) is not in a live /metrics: {sorted(served)}"
            used.add(name)
        labels = set(SELECTOR_LABEL.findall(expression))
        for group in GROUPING.findall(expression):
            labels |= {label.strip() for label in group.split(",") if label.strip()}
        for label in labels - PROMETHEUS_LABELS:
            assert any(label in served[name] for name in names), (
                f"label {label!r} not on {names}: {expression}"
            )
    # request rate, failures, latency quantiles, in flight and queue, per model and version
    assert {
        "ovms_requests_success",
        "ovms_requests_fail",
        "ovms_request_time_us_bucket",
        "ovms_current_requests",
        "ovms_infer_req_queue_size",
        # LLMs and embeddings (/v3)
        "modelhub_llm_generated_tokens",
        "modelhub_llm_prompt_tokens",
        "modelhub_llm_time_to_first_token_ms_bucket",
        "modelhub_llm_time_per_output_token_ms_bucket",
        "modelhub_llm_requests_in_flight",
    } <= used
    assert any('api="V3"' in expression and "ovms_requests_fail" in expression for expression in expressions)


def test_the_dashboard_filters_every_panel_by_model_and_version() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "modelhub"
    variables = {variable["name"] for variable in dashboard["templating"]["list"]}
    assert {"datasource", "model", "version"} <= variables
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert 'name=~"$model"' in target["expr"] and 'version=~"$version"' in target["expr"], panel[
                "title"
            ]


def test_the_dashboard_panels_have_unique_ids_and_do_not_overlap() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    taken: dict[tuple[int, int], str] = {}
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]
    assert "LLMs and embeddings" in [panel["title"] for panel in panels if panel["type"] == "row"]


def healthcheck(port: int, role: str = "server") -> subprocess.CompletedProcess[str]:
    script = ROOT / "deploy" / "container" / "healthcheck.py"
    env = {**os.environ, "PORT": str(port), "HOST": "0.0.0.0", "MODELHUB_ROLE": role}
    return subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=30)


def test_the_image_healthcheck_passes_on_a_live_server_and_fails_on_a_dead_port(service: LiveService) -> None:
    assert healthcheck(service.port).returncode == 0
    dead = healthcheck(free_port())
    assert dead.returncode == 1 and "/v2/health/live" in dead.stderr
    assert healthcheck(free_port(), role="worker").returncode == 0  # no HTTP to probe: alive while it runs


def test_sigterm_stops_accepting_and_finishes_the_request_in_flight(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """What a rolling upgrade relies on after preStop (docs/kubernetes.md): on SIGTERM the server closes its
    listening socket at once, and an upload already streaming in still completes (201)."""
    folder = tmp_path_factory.mktemp("drain")
    archive = ir_zip(build_constant_model(5.0), folder)
    body, content_type = urllib3.encode_multipart_formdata(
        {"name": "drained", "version": "1", "file": ("drained.zip", archive, "application/zip")}
    )
    with live_service(folder / "data", with_worker=False) as service:
        connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
        connection.putrequest("POST", "/models")
        connection.putheader("Content-Type", content_type)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        half = len(body) // 2
        connection.send(body[:half])
        # SIGTERM only once the server has read what was sent (a request it has not started counts as idle)
        client_port = connection.sock.getsockname()[1]
        deadline = time.monotonic() + 10
        while unread_bytes(service.port, client_port) != 0:
            assert time.monotonic() < deadline, "the server does not read the request"
            time.sleep(0.01)
        server = service.processes["server"]
        server.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the listener closes at once; established connections stay
            try:
                socket.create_connection(("127.0.0.1", service.port), timeout=1).close()
            except ConnectionRefusedError:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the server still accepts connections 5 s after SIGTERM")
        for start in range(half, len(body), 4096):  # the rest, slowly: the request is in flight all along
            connection.send(body[start : start + 4096])
            time.sleep(0.002)
        response = connection.getresponse()
        assert response.status == 201, response.read()
        # uvicorn re-raises the signal once its graceful shutdown is done (config.run itself then exits 0)
        assert server.wait(timeout=20) in (0, -signal.SIGTERM)
        log = service.log_tail(200)
        assert "Application shutdown complete." in log and "Finished server process" in log, log


def unread_bytes(server_port: int, client_port: int) -> int | None:
    """Bytes waiting in the server side's receive queue of one loopback connection (Linux /proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, queues = fields[1], fields[2], fields[4]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
            return int(queues.split(":")[1], 16)
    return None
