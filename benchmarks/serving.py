"""Serving benchmark: modelhub's inference server against the in-process limit and KServe's own server.

    .venv/bin/python benchmarks/serving.py [--seconds 8] [--rounds 4] [--connections 8] [--skip-peer] [--no-bare]
                                           [--models silero,magika[,magika-v3]]

Starts modelhub (as `make run` does: migrate, uvicorn with uvloop/httptools, WEB_CONCURRENCY processes) on a
temporary data folder, registers and serves the models (see MODELS: Silero VAD, light, two inputs and two
outputs; magika 0.5.1's `standard_v1`, heavy, one input, the model the targets were set with, fetched from
PyPI into benchmarks/.models/ on first use), and drives it with `wrk` at 8 connections, batch 1:
  - KServe v2 JSON, KServe v2 binary data extension, and TFS predict (column format);
and in the same run measures two baselines:
  - the limit: the same model, same compile settings, called in-process through an AsyncInferQueue kept full;
  - the peer: KServe's Python ModelServer (`kserve` package, in its own venv benchmarks/.venv-kserve created
    on first use) serving the same model with OpenVINO through an `async def predict` over an AsyncInferQueue;
and, unless --no-bare, a third side, benchmarks/bare_server.py: the least a Python ASGI server under uvicorn
can do for a binary data request (no validation, routing or metrics; models with one input and one output),
i.e. the ceiling of modelhub's own stack, measured beside it.
Rounds are interleaved (limit, ours, peer; the next round in reverse order, so a drift favours no side); the
table shows the median of the rounds, and each target's ratio is the median of the ratios within a round
(sides measured a few seconds apart), because the speed of this kind of VM drifts by 10-20% within a minute
even when it is idle. Results go to benchmarks/results/.
Run it on a quiet machine: every side shares the same cores.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PEER_VENV = ROOT / "benchmarks" / ".venv-kserve"
MODELS_DIR = ROOT / "benchmarks" / ".models"
RESULTS = ROOT / "benchmarks" / "results"

from benchmarks.report import judge, machine_load, measurement_options, median_ratio, paired, rate_table  # noqa: E402

HINT = os.environ.get("MODELHUB_PERFORMANCE_HINT", "THROUGHPUT")  # the server's default compile setting


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    measurement_options(parser)
    parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")), help="server processes"
    )
    parser.add_argument("--skip-peer", action="store_true", help="do not measure KServe's server")
    parser.add_argument(
        "--bare",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure benchmarks/bare_server.py (binary data; models with one input and one output)",
    )
    parser.add_argument(
        "--nireq", type=int, help="serve with this many infer requests (default: the server's default)"
    )
    parser.add_argument(
        "--plugin-config",
        default="",
        help="OpenVINO properties as JSON for every side (server, limit, peer); default: the server's default",
    )
    parser.add_argument(
        "--models",
        default="silero,magika",
        help=f"comma-separated, from: {', '.join(MODELS)} (the targets use silero and magika)",
    )
    parser.add_argument("--limit", nargs=2, metavar=("MODEL", "NIREQ"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    chosen = [name.strip() for name in options.models.split(",") if name.strip()]
    if unknown := [name for name in chosen if name not in MODELS]:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    plugin_config = compile_config(options.plugin_config)
    if options.limit:
        print(
            json.dumps(
                in_process_limit(options.limit[0], int(options.limit[1]), options.seconds, plugin_config)
            )
        )
        return 0

    if shutil.which("wrk") is None:
        print("wrk is not installed. On Debian/Ubuntu: sudo apt-get install -y wrk", file=sys.stderr)
        return 2
    load = machine_load()
    try:
        peer_python = None if options.skip_peer else ensure_peer_venv()
    except subprocess.CalledProcessError as exc:
        print(
            f"Could not install kserve into {PEER_VENV} ({exc}); run with --skip-peer to measure without it.",
            file=sys.stderr,
        )
        return 2

    models = {name: MODELS[name].path() for name in chosen}
    results: dict[str, Any] = {"connections": options.connections, "seconds": options.seconds, "rounds": options.rounds,
                               "workers": options.workers, "nireq": options.nireq, "plugin_config": plugin_config,
                               "load_before": load, "models": {}}  # fmt: skip
    with (
        tempfile.TemporaryDirectory(prefix="modelhub-bench-") as scratch,
        Server(Path(scratch), options.workers) as server,
    ):
        bodies = Path(scratch) / "bodies"
        bodies.mkdir()
        for name, path in models.items():
            server.register_and_serve(name, path, options.nireq, options.plugin_config)
        for name, path in models.items():
            requests = make_requests(name, path, bodies)
            check_answers(server.url, name, path, requests)
            nireq = server.nireq(name)
            print(f"\n== {name}: {MODELS[name].description} (nireq {nireq})")
            samples: dict[str, list[dict[str, float]]] = {
                key: [] for key in ("limit", "json", "binary", "tfs", "peer", "bare")
            }
            sides = {}
            if peer_python:
                sides["peer"] = (kserve_peer(peer_python, path, name, nireq, plugin_config), "json")
            if options.bare and single_input_and_output(path):
                sides["bare"] = (bare_server(name, path, nireq, plugin_config, requests), "binary")
            try:
                measure: dict[str, Callable[[], dict[str, float]]] = {
                    "limit": partial(run_limit, name, nireq, options.seconds, options.plugin_config),
                    **{
                        key: partial(wrk, server.url + requests[key]["path"], requests[key], options)
                        for key in ("binary", "json", "tfs")
                    },
                }
                for key, (side, kind) in sides.items():
                    measure[key] = partial(side.measure, requests[kind], options)
                # each next to what it is compared with
                order = [key for key in ("limit", "binary", "bare", "json", "tfs", "peer") if key in measure]
                for round_number in range(options.rounds):
                    # Every other round runs in reverse (ABBA), so a drift of the VM's speed within a round
                    # does not always favour the side measured first.
                    for key in order if round_number % 2 == 0 else reversed(order):
                        samples[key].append(measure[key]())
                    print(
                        f"   round {round_number + 1}: "
                        + ", ".join(f"{k} {v[-1]['rps']:.0f}/s" for k, v in samples.items() if v)
                    )
            finally:
                for side, _ in sides.values():
                    side.close()
            results["models"][name] = {key: median(values) for key, values in samples.items() if values}
            results["models"][name]["nireq"] = nireq
            results["models"][name]["rounds"] = {key: values for key, values in samples.items() if values}
    results["load_after"] = os.getloadavg()[0]
    report(results)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"serving-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"\nSaved {out.relative_to(ROOT)}")
    return 0


# --- our server ---------------------------------------------------------------------------------------


class Server:
    def __init__(self, scratch: Path, workers: int) -> None:
        from tests.live import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "MODELHUB_DATA_DIR": str(scratch / "data"),
                    "MODELHUB_LOG_LEVEL": "WARNING", "GRPC_PORT": "0"}  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "Server":
        from config.run import server_command

        self.manage("migrate", "--noinput")
        command = server_command("127.0.0.1", str(self.port), self.workers, access_log=False)
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until(lambda: http("GET", f"{self.url}/v2/health/ready")[0] == 200, 60, "modelhub did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def register_and_serve(self, name: str, model: Path, nireq: int | None, plugin_config: str = "") -> None:
        from tests.modelfiles import onnx_zip

        archive = onnx_zip(model)
        boundary = "modelhubbench"
        parts = []
        for key, value in (("id", name), ("name", name), ("version", "1")):
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
            )
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}.zip"\r\n'
                     "Content-Type: application/zip\r\n\r\n".encode() + archive + b"\r\n")  # fmt: skip
        parts.append(f"--{boundary}--\r\n".encode())
        status, body, _ = http(
            "POST",
            f"{self.url}/models",
            b"".join(parts),
            {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        if status != 201:
            raise RuntimeError(f"registering {name} failed: {status} {body[:200]!r}")
        self.manage(
            "serve_model", name, "--wait", "--timeout", "300",
            *(["--nireq", str(nireq)] if nireq else []), *(["--plugin-config", plugin_config] if plugin_config else []),
        )  # fmt: skip

    def nireq(self, name: str) -> int:
        _, text, _ = http("GET", f"{self.url}/metrics")
        match = re.search(rf'ovms_infer_req_queue_size{{name="{name}",version="1"}} ([0-9.]+)', text.decode())
        return int(float(match.group(1))) if match else 0


# --- the models -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchModel:
    description: str
    locate: Callable[[], Path]
    # How input values are drawn: "normal" (small floats) or "bytes" (magika's 0-255, 256 = padding).
    values: str

    def path(self) -> Path:
        return self.locate()


def _silero() -> Path:
    from tests.modelfiles import silero_vad_onnx  # comes with `make install-test`

    return silero_vad_onnx()


def _magika_v3() -> Path:
    from tests.modelfiles import magika_onnx  # magika 1.0.3, the test suite's model

    return magika_onnx()


def _magika_v1() -> Path:
    """magika 0.5.1's `standard_v1`, taken from the package's own wheel on PyPI (no dependencies, no hub)."""
    target = MODELS_DIR / "magika-0.5.1"
    model = target / "magika" / "models" / "standard_v1" / "model.onnx"
    if not model.exists():
        print(
            f"Fetching magika 0.5.1 (for its model file) into {target.relative_to(ROOT)} (first run only)..."
        )
        MODELS_DIR.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(dir=MODELS_DIR) as scratch:
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                 "--target", scratch, "magika==0.5.1"],
                check=True,
            )  # fmt: skip
            shutil.rmtree(target, ignore_errors=True)
            os.rename(scratch, target)
            Path(scratch).mkdir()  # for TemporaryDirectory's cleanup
    return model


MODELS = {
    "silero": BenchModel("Silero VAD 6.2.3 (light: 2 inputs, 2 outputs)", _silero, "normal"),
    "magika": BenchModel("magika 0.5.1 standard_v1 (heavy: FP32 [1,1536] -> [1,113])", _magika_v1, "bytes"),
    "magika-v3": BenchModel("magika 1.0.3 standard_v3_3 (heavier: INT32 [1,2048] -> [1,214])", _magika_v3, "bytes"),
}  # fmt: skip


def make_inputs(name: str, path: Path) -> dict[str, Any]:
    """Batch-1 inputs for the model's own input specs (dynamic dimensions become 1), the same in every process."""
    import numpy as np
    import openvino as ov

    rng = np.random.default_rng(1)
    inputs = {}
    for port in ov.Core().read_model(str(path)).inputs:
        shape = [dim.get_length() if dim.is_static else 1 for dim in port.get_partial_shape()]
        dtype = port.get_element_type().to_dtype()
        if MODELS[name].values == "bytes":
            inputs[port.get_any_name()] = rng.integers(0, 257, shape).astype(dtype)
        else:
            inputs[port.get_any_name()] = (rng.standard_normal(shape) * 0.1).astype(dtype)
    return inputs


def make_requests(name: str, path: Path, folder: Path) -> dict[str, dict[str, Any]]:
    """Request bodies (written to files for wrk) and the inputs they carry."""
    import numpy as np
    import orjson

    inputs = make_inputs(name, path)
    kserve_datatype = {np.dtype(np.float32): "FP32", np.dtype(np.int32): "INT32"}
    json_body = orjson.dumps({"inputs": [{"name": n, "shape": list(a.shape), "datatype": kserve_datatype[a.dtype], "data": a.ravel().tolist()}
                                         for n, a in inputs.items()]})  # fmt: skip
    header = orjson.dumps({"inputs": [{"name": n, "shape": list(a.shape), "datatype": kserve_datatype[a.dtype],
                                       "parameters": {"binary_data_size": a.nbytes}} for n, a in inputs.items()],
                           "parameters": {"binary_data_output": True}})  # fmt: skip
    binary_body = header + b"".join(a.tobytes() for a in inputs.values())
    tfs_body = orjson.dumps({"inputs": {n: a.tolist() for n, a in inputs.items()}})
    requests = {
        "json": {"path": f"/v2/models/{name}/infer", "body": json_body, "headers": {"Content-Type": "application/json"}},
        "binary": {"path": f"/v2/models/{name}/infer", "body": binary_body,
                   "headers": {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))}},
        "tfs": {"path": f"/v1/models/{name}:predict", "body": tfs_body, "headers": {"Content-Type": "application/json"}},
    }  # fmt: skip
    for key, request in requests.items():
        body_file = folder / f"{name}-{key}.body"
        body_file.write_bytes(request["body"])
        script = folder / f"{name}-{key}.lua"
        lines = [
            f'local f = io.open("{body_file}", "rb"); wrk.body = f:read("*a"); f:close()',
            'wrk.method = "POST"',
        ]
        lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in request["headers"].items()]
        script.write_text("\n".join(lines) + "\n")
        request["script"] = str(script)
    requests["inputs"] = inputs  # type: ignore[assignment]
    return requests


def check_answers(
    url: str,
    name: str,
    model: Path,
    requests: dict[str, Any],
    kinds: tuple[str, ...] = ("json", "binary", "tfs"),
) -> None:
    """Every request used must give the right answer before it is timed."""
    import numpy as np
    import openvino as ov
    import orjson

    core = ov.Core()
    read = core.read_model(str(model))
    expected = core.compile_model(read, "CPU").create_infer_request().infer(requests["inputs"])
    first = read.outputs[0].get_any_name()
    reference = np.array(list(expected.values())[0])
    for key in kinds:
        request = requests[key]
        status, body, headers = http("POST", url + request["path"], request["body"], request["headers"])
        if status != 200:
            raise RuntimeError(f"{name} {key}: {status} {body[:300]!r}")
        if key == "tfs":
            outputs = orjson.loads(body)["outputs"]
            got = np.array(outputs[first] if isinstance(outputs, dict) else outputs)
        elif key == "json":
            document = orjson.loads(body)
            got = np.array(next(o["data"] for o in document["outputs"] if o["name"] == first))
        else:
            length = int(headers["inference-header-content-length"] if "inference-header-content-length" in headers
                         else headers["Inference-Header-Content-Length"])  # fmt: skip
            document = orjson.loads(body[:length])
            offset = 0
            for output in document["outputs"]:
                size = output["parameters"]["binary_data_size"]
                if output["name"] == first:
                    got = np.frombuffer(body[length + offset : length + offset + size], np.float32)
                offset += size
        if not np.allclose(got.ravel(), reference.ravel(), rtol=1e-4, atol=1e-5):
            raise RuntimeError(f"{name} {key}: wrong answer")


# --- load generator -----------------------------------------------------------------------------------


def wrk(url: str, request: dict[str, Any], options: argparse.Namespace) -> dict[str, float]:
    command = [
        "wrk",
        "-t1",
        f"-c{options.connections}",
        f"-d{max(1, round(options.seconds))}s",
        "--latency",
        "-s",
        request["script"],
        url,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in output or "Socket errors" in output:
        raise RuntimeError(f"wrk saw errors against {url}:\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", output).group(1))  # type: ignore[union-attr]
    latency = {p: _millis(re.search(rf"^\s+{p}%\s+(\S+)", output, re.M).group(1)) for p in ("50", "99")}  # type: ignore[union-attr]
    return {"rps": rps, "p50_ms": latency["50"], "p99_ms": latency["99"]}


def _millis(text: str) -> float:
    value, unit = re.match(r"([0-9.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def median(samples: list[dict[str, float]]) -> dict[str, float]:
    ordered = sorted(samples, key=lambda s: s["rps"])
    middle = ordered[len(ordered) // 2]
    return {
        **middle,
        "rps_all": [round(s["rps"], 1) for s in samples],
        "rps_median": statistics.median(s["rps"] for s in samples),
    }


# --- the limit: in-process AsyncInferQueue --------------------------------------------------------------


def compile_config(option: str) -> dict[str, str]:
    """What the server compiles with for `--plugin-config` (its own default when a hint or streams are not set)."""
    configured = json.loads(option) if option else {}
    config = {} if {"PERFORMANCE_HINT", "NUM_STREAMS"} & set(configured) else {"PERFORMANCE_HINT": HINT}
    for key, value in configured.items():
        config[key] = ("YES" if value else "NO") if isinstance(value, bool) else str(value)
    return config


def run_limit(name: str, nireq: int, seconds: float, plugin_config: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--limit", name, str(nireq), "--seconds", str(seconds)]
    if plugin_config:
        command += ["--plugin-config", plugin_config]
    output = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def in_process_limit(
    name: str, nireq: int, seconds: float, plugin_config: dict[str, str]
) -> dict[str, float]:
    """Inferences per second of an AsyncInferQueue kept full, with the server's compile settings and nireq,
    inputs bound as shared tensors (no per-call conversion) and no Python callback (none of the GIL traffic a
    server has to pay to hand results over): what no server can beat on this machine."""
    import numpy as np
    import openvino as ov

    path = MODELS[name].path()
    compiled = ov.Core().compile_model(str(path), "CPU", plugin_config)
    queue = ov.AsyncInferQueue(compiled, nireq or compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    tensors = {
        i: ov.Tensor(np.ascontiguousarray(a), shared_memory=True)
        for i, a in enumerate(make_inputs(name, path).values())
    }
    start_async = ov.AsyncInferQueue.__mro__[1].start_async
    warm_until = time.perf_counter() + 1.0
    while time.perf_counter() < warm_until:
        start_async(queue, tensors, None)
    queue.wait_all()
    started = 0
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        start_async(queue, tensors, None)  # blocks (GIL released) while all nireq requests are busy
        started += 1
    queue.wait_all()
    return {"rps": started / (time.perf_counter() - began), "p50_ms": 0.0, "p99_ms": 0.0}


# --- the peer: KServe's ModelServer -----------------------------------------------------------------------


def ensure_peer_venv() -> Path:
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        import openvino

        version = openvino.get_version().split("-")[0]
        print(
            f"Creating {PEER_VENV.relative_to(ROOT)} with kserve and openvino {version} (first run only)...",
            flush=True,
        )
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "kserve",
                f"openvino=={version}",
                "numpy",
                "uvloop",
                "httptools",
            ],
            check=True,
        )
    return python


class SideServer:
    """Another server measured beside modelhub: started on first use, kept running between rounds (idle while
    the others are measured), stopped by `close`."""

    def __init__(
        self,
        title: str,
        command: list[str],
        env: dict[str, str],
        ready: Callable[[str], bool],
        check: Callable[[str], None] | None = None,
    ) -> None:
        from tests.live import free_port

        self.title = title
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [part.replace("{port}", str(self.port)) for part in command]
        self.env = env
        self.ready = ready
        self.check = check
        self.process: subprocess.Popen[bytes] | None = None

    def measure(self, request: dict[str, Any], options: argparse.Namespace) -> dict[str, float]:
        if self.process is None:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            wait_until(lambda: self.ready(self.url), 120, f"{self.title} did not start")
            if self.check:
                self.check(self.url)
        return wrk(self.url + request["path"], request, options)

    def close(self) -> None:
        terminate(self.process)


def terminate(process: subprocess.Popen[bytes] | None) -> None:
    """Stops a side server: SIGTERM, then SIGKILL after 20 s."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def single_input_and_output(model: Path) -> bool:
    import openvino as ov

    read = ov.Core().read_model(str(model))
    return len(read.inputs) == 1 and len(read.outputs) == 1


def kserve_peer(
    python: Path, model: Path, name: str, nireq: int, plugin_config: dict[str, str]
) -> SideServer:
    command = [str(python), str(ROOT / "benchmarks" / "kserve_peer.py"), str(model), name, "{port}",
               "--nireq", str(nireq), "--plugin-config", json.dumps(plugin_config)]  # fmt: skip
    return SideServer(
        "the KServe server",
        command,
        dict(os.environ),
        lambda url: http("GET", f"{url}/v2/models/{name}/ready")[0] == 200,
    )


def bare_server(
    name: str, model: Path, nireq: int, plugin_config: dict[str, str], requests: dict[str, Any]
) -> SideServer:
    """benchmarks/bare_server.py under uvicorn as `make run` starts it (uvloop, httptools, no access log)."""
    command = [sys.executable, "-m", "uvicorn", "--factory", "benchmarks.bare_server:create_app", "--port", "{port}",
               "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]  # fmt: skip
    env = {
        **os.environ,
        "BARE_MODEL": str(model),
        "BARE_NIREQ": str(nireq),
        "BARE_CONFIG": json.dumps(plugin_config),
    }
    request = requests["binary"]
    return SideServer(
        "the bare server",
        command,
        env,
        lambda url: http("POST", url + request["path"], request["body"], request["headers"])[0] == 200,
        lambda url: check_answers(url, name, model, requests, ("binary",)),
    )


# --- report -----------------------------------------------------------------------------------------------


def report(results: dict[str, Any]) -> None:
    rate_table(
        results,
        {"json": "KServe JSON", "binary": "KServe binary", "tfs": "TFS predict", "peer": "peer (kserve)"},
    )

    checks = []
    light = results["models"].get("silero")
    heavy = results["models"].get("magika")
    if light and "peer" in light:
        checks.append(("light model, KServe JSON >= 3x the peer", paired(light, "json", "peer"), 3.0))
        checks.append(("light model, KServe JSON p99 below the peer's (ratio = peer p99 / ours)",
                       paired(light, "peer", "json", "p99_ms"), 1.0))  # fmt: skip
    if heavy and "peer" in heavy:
        checks.append(("heavy model, KServe JSON >= 1.4x the peer", paired(heavy, "json", "peer"), 1.4))
    if heavy:
        checks.append(
            ("heavy model, KServe JSON >= 0.8x the in-process limit", paired(heavy, "json", "limit"), 0.8)
        )
        checks.append(
            ("heavy model, binary data >= 0.9x the in-process limit", paired(heavy, "binary", "limit"), 0.9)
        )
    for name, values in results["models"].items():
        checks.append((f"{name}: TFS predict >= 0.9x KServe JSON", paired(values, "tfs", "json"), 0.9))
    for name, values in results["models"].items():
        if name not in ("silero", "magika"):  # not a target: printed for comparison
            peer = (
                f", KServe JSON / peer {median_ratio(values, 'json', 'peer'):.2f}x"
                if "peer" in values
                else ""
            )
            print(f"\n{name} (no target): KServe JSON {median_ratio(values, 'json', 'limit'):.2f}x and binary "
                  f"{median_ratio(values, 'binary', 'limit'):.2f}x the limit{peer}")  # fmt: skip
    for name, values in results["models"].items():
        if "bare" in values:  # not a target: how close modelhub comes to a server that does nothing else
            print(f"\n{name} (no target): the bare server, binary data: {values['bare']['rps']:.0f}/s "
                  f"(p99 {values['bare']['p99_ms']:.1f} ms), {median_ratio(values, 'bare', 'limit'):.2f}x the limit; "
                  f"modelhub's binary data: {median_ratio(values, 'binary', 'bare'):.2f}x the bare server")  # fmt: skip
    judge(results, checks)


# --- helpers ----------------------------------------------------------------------------------------------


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes, dict[str, str]]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b"", {}


def wait_until(check: Any, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(message)


if __name__ == "__main__":
    sys.exit(main())
