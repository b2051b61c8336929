"""gRPC serving benchmark: modelhub's gRPC endpoint against the in-process limit, KServe's Python ModelServer with
gRPC enabled, modelhub's own HTTP binary path and a bare gRPC server, in the same run, batch 1.

    .venv/bin/python benchmarks/serving_grpc.py [--seconds 8] [--rounds 4] [--connections 8] [--skip-peer]
                                                [--no-bare] [--models silero,magika]

The load generator is h2load (Debian's nghttp2-client; not Python): a KServe v2 `ModelInfer` request with
`raw_input_contents`, framed as gRPC (1 flag byte, 4-byte big-endian length, the message) in a body file, POSTed
with `content-type: application/grpc` and `te: trailers` on `--connections` HTTP/2 connections, one stream each.
h2load does not read gRPC trailers, so every request is first sent once with a real gRPC client and its answer
compared with OpenVINO called directly; modelhub's `ovms_requests_fail` must not grow while h2load runs.
p50/p99 come from h2load's per-request log. HTTP binary is measured with wrk as in benchmarks/serving.py, whose
models, server setup, in-process limit and KServe peer (benchmarks/kserve_peer.py, here with `--grpc-port`) this
reuses. The bare gRPC server (benchmarks/bare_grpc_server.py: grpcio's asyncio server and OpenVINO, nothing else)
is not a target: it shows the ceiling of a gRPC server built on grpcio on this machine. Rounds are interleaved
and every other one reversed; ratios are the median of per-round ratios.
(Not named benchmarks/grpc.py: a script's folder comes first on sys.path, so that file would shadow the grpc
package in every script of this folder, kserve_peer.py included.)
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.report import judge, machine_load, measurement_options, median_ratio, paired, rate_table  # noqa: E402
from benchmarks.serving import (  # noqa: E402
    MODELS,
    RESULTS,
    Server,
    SideServer,
    compile_config,
    ensure_peer_venv,
    http,
    make_inputs,
    make_requests,
    median,
    run_limit,
    wrk,
)

INFER_PATH = "/inference.GRPCInferenceService/ModelInfer"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    measurement_options(parser)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")))
    parser.add_argument("--skip-peer", action="store_true", help="do not measure KServe's server")
    parser.add_argument(
        "--no-bare", dest="bare", action="store_false", help="do not measure benchmarks/bare_grpc_server.py"
    )
    parser.add_argument(
        "--models", default="silero,magika", help=f"comma-separated, from: {', '.join(MODELS)}"
    )
    options = parser.parse_args()
    chosen = [name.strip() for name in options.models.split(",") if name.strip()]
    for tool in ("h2load", "wrk"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (Debian: apt-get install -y nghttp2-client wrk)", file=sys.stderr)
            return 2
    load = machine_load()
    peer_python = None if options.skip_peer else ensure_peer_venv()
    plugin_config = compile_config("")
    results: dict[str, Any] = {"connections": options.connections, "seconds": options.seconds, "rounds": options.rounds,
                               "workers": options.workers, "load_before": load, "models": {}}  # fmt: skip
    from tests.live import free_port

    with tempfile.TemporaryDirectory(prefix="modelhub-grpc-bench-") as scratch:
        server = Server(Path(scratch), options.workers)
        grpc_port = free_port()
        server.env["GRPC_PORT"] = str(grpc_port)
        with server:
            bodies = Path(scratch) / "bodies"
            bodies.mkdir()
            models = {name: MODELS[name].path() for name in chosen}
            for name, path in models.items():
                server.register_and_serve(name, path, None)
            for name, path in models.items():
                nireq = server.nireq(name)
                print(f"\n== {name}: {MODELS[name].description} (nireq {nireq})")
                requests = make_requests(name, path, bodies)
                body_file, message = grpc_body(name, path, bodies)
                check_grpc(f"127.0.0.1:{grpc_port}", name, path, message)
                measure = {
                    "limit": partial(run_limit, name, nireq, options.seconds, ""),
                    "grpc": partial(
                        h2load, f"http://127.0.0.1:{grpc_port}{INFER_PATH}", body_file, options, server
                    ),
                    "binary": partial(
                        wrk, server.url + requests["binary"]["path"], requests["binary"], options
                    ),
                }
                sides: dict[str, GrpcSide] = {}
                if options.bare:
                    sides["bare"] = bare_grpc_server(path, name, nireq, plugin_config, message)
                if peer_python:
                    sides["peer"] = kserve_grpc_peer(peer_python, path, name, nireq, plugin_config, message)
                for key, side in sides.items():
                    measure[key] = partial(side.measure_grpc, body_file, options)
                samples: dict[str, list[dict[str, float]]] = {key: [] for key in measure}
                order = list(measure)
                try:
                    for number in range(options.rounds):
                        for key in order if number % 2 == 0 else reversed(order):
                            samples[key].append(measure[key]())
                        print(
                            f"   round {number + 1}: "
                            + ", ".join(f"{k} {v[-1]['rps']:.0f}/s" for k, v in samples.items())
                        )
                finally:
                    for side in sides.values():
                        side.close()
                results["models"][name] = {key: median(values) for key, values in samples.items()}
                results["models"][name]["nireq"] = nireq
                results["models"][name]["rounds"] = samples
    results["load_after"] = os.getloadavg()[0]
    report(results)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"grpc-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"\nSaved {out.relative_to(ROOT)}")
    return 0


def grpc_body(name: str, path: Path, folder: Path) -> tuple[Path, bytes]:
    """A ModelInferRequest with raw_input_contents, and the same framed as one gRPC message in a file."""
    from inference.grpc.protos import grpc_service_pb2 as pb

    kserve_datatype = {"float32": "FP32", "int32": "INT32"}
    request = pb.ModelInferRequest(model_name=name)
    for input_name, array in make_inputs(name, path).items():
        request.inputs.add(name=input_name, datatype=kserve_datatype[str(array.dtype)], shape=array.shape)
        request.raw_input_contents.append(array.tobytes())
    message = request.SerializeToString()
    body = folder / f"{name}-grpc.body"
    body.write_bytes(b"\x00" + len(message).to_bytes(4, "big") + message)
    return body, message


def check_grpc(address: str, name: str, path: Path, message: bytes) -> None:
    """The request, sent with a gRPC client, must answer what OpenVINO answers."""
    import grpc
    import numpy as np
    import openvino as ov

    from inference.grpc.protos import grpc_service_pb2 as pb

    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary(
            INFER_PATH, request_serializer=bytes, response_deserializer=pb.ModelInferResponse.FromString
        )
        response = call(message, timeout=60)
    core = ov.Core()
    expected = (
        core.compile_model(core.read_model(str(path)), "CPU")
        .create_infer_request()
        .infer(make_inputs(name, path))
    )
    reference = np.array(list(expected.values())[0]).ravel()
    first = response.outputs[0]
    if first.datatype != "FP32":
        raise RuntimeError(f"{address} {name}: unexpected output {first}")
    if response.raw_output_contents:
        got = np.frombuffer(response.raw_output_contents[0], np.float32)
    else:
        got = np.array(first.contents.fp32_contents, np.float32)
    if not np.allclose(got, reference, rtol=1e-4, atol=1e-5):
        raise RuntimeError(f"{address} {name}: wrong answer over gRPC")


def h2load(
    url: str, body: Path, options: argparse.Namespace, server: Server | None = None
) -> dict[str, float]:
    failed_before = _grpc_failures(server) if server else 0.0
    with tempfile.NamedTemporaryFile(prefix="h2load-", suffix=".log") as log:
        command = ["h2load", f"-c{options.connections}", "-t1", "-m1", f"-D{max(1, round(options.seconds))}",
                   "--warm-up-time=1", f"--data={body}", "-H", "content-type: application/grpc", "-H", "te: trailers",
                   f"--log-file={log.name}", url]  # fmt: skip
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        durations = sorted(
            int(line.split("\t")[2])
            for line in Path(log.name).read_text().splitlines()
            if line.count("\t") >= 2
        )
    done = re.search(
        r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored",
        output,
    )
    if not done or int(done.group(4)) or int(done.group(5)) or not durations:
        raise RuntimeError(f"h2load saw errors against {url}:\n{output}")
    if server and _grpc_failures(server) > failed_before:
        raise RuntimeError(f"modelhub answered gRPC errors during the run against {url}")
    rps = float(re.search(r"finished in [0-9.]+s, ([0-9.]+) req/s", output).group(1))  # type: ignore[union-attr]
    return {
        "rps": rps,
        "p50_ms": durations[len(durations) // 2] / 1000,
        "p99_ms": durations[int(len(durations) * 0.99)] / 1000,
    }


def _grpc_failures(server: Server) -> float:
    _, text, _ = http("GET", f"{server.url}/metrics")
    return sum(
        float(v) for v in re.findall(rb'ovms_requests_fail\{[^}]*interface="gRPC"[^}]*\} ([0-9.]+)', text)
    )


class GrpcSide(SideServer):
    """A server measured beside modelhub over gRPC (KServe's, or the bare one): started on first use, checked with
    a real gRPC client, then driven by h2load."""

    def __init__(
        self, *args: Any, grpc_port: int, message: bytes, model: tuple[str, Path], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.grpc_port = grpc_port
        self.message = message
        self.model = model

    def measure_grpc(self, body: Path, options: argparse.Namespace) -> dict[str, float]:
        if self.process is None:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            from benchmarks.serving import wait_until

            wait_until(lambda: self.ready(self.url), 120, f"{self.title} did not start")
            check_grpc(f"127.0.0.1:{self.grpc_port}", self.model[0], self.model[1], self.message)
        return h2load(f"http://127.0.0.1:{self.grpc_port}{INFER_PATH}", body, options)


def kserve_grpc_peer(
    python: Path, model: Path, name: str, nireq: int, plugin_config: dict[str, str], message: bytes
) -> GrpcSide:
    from tests.live import free_port

    grpc_port = free_port()
    command = [str(python), str(ROOT / "benchmarks" / "kserve_peer.py"), str(model), name, "{port}", "--nireq", str(nireq),
               "--plugin-config", json.dumps(plugin_config), "--grpc-port", str(grpc_port)]  # fmt: skip
    return GrpcSide(
        "the KServe server (gRPC)",
        command,
        dict(os.environ),
        lambda url: http("GET", f"{url}/v2/models/{name}/ready")[0] == 200,
        grpc_port=grpc_port,
        message=message,
        model=(name, model),
    )


def bare_grpc_server(
    model: Path, name: str, nireq: int, plugin_config: dict[str, str], message: bytes
) -> GrpcSide:
    """benchmarks/bare_grpc_server.py: grpcio's asyncio server doing nothing but the inference (the ceiling)."""
    from tests.live import free_port

    grpc_port = free_port()
    env = {
        **os.environ,
        "BARE_MODEL": str(model),
        "BARE_NIREQ": str(nireq),
        "BARE_CONFIG": json.dumps(plugin_config),
    }
    return GrpcSide(
        "the bare gRPC server",
        [sys.executable, str(ROOT / "benchmarks" / "bare_grpc_server.py"), str(grpc_port)],
        env,
        lambda url: _grpc_ready(f"127.0.0.1:{grpc_port}"),
        grpc_port=grpc_port,
        message=message,
        model=(name, model),
    )


def _grpc_ready(address: str) -> bool:
    import grpc

    with grpc.insecure_channel(address) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=1)
        except grpc.FutureTimeoutError:
            return False
    return True


def report(results: dict[str, Any]) -> None:
    rate_table(
        results,
        {"grpc": "gRPC raw", "binary": "HTTP binary", "bare": "bare gRPC", "peer": "peer gRPC (kserve)"},
    )

    checks = []
    light = results["models"].get("silero")
    heavy = results["models"].get("magika")
    if light and "peer" in light:
        checks.append(("light model, gRPC >= 3x the peer's gRPC", paired(light, "grpc", "peer"), 3.0))
        checks.append(("light model, gRPC p99 below the peer's (ratio = peer p99 / ours)",
                       paired(light, "peer", "grpc", "p99_ms"), 1.0))  # fmt: skip
    if light:
        checks.append(("light model, gRPC >= HTTP binary", paired(light, "grpc", "binary"), 1.0))
    if heavy:
        checks.append(
            (
                "heavy model, gRPC raw contents >= 0.85x the in-process limit",
                paired(heavy, "grpc", "limit"),
                0.85,
            )
        )
    judge(results, checks)
    for name, values in results["models"].items():
        if "bare" not in values:
            continue
        # not a target: what grpcio and OpenVINO allow at all, and how close modelhub comes to it
        against = [f"{median_ratio(values, 'bare', key):.2f}x {label}"
                   for key, label in (("limit", "the limit"), ("binary", "HTTP binary"), ("peer", "the peer"))
                   if key in values]  # fmt: skip
        print(f"\n{name} (no target): the bare gRPC server {values['bare']['rps']:.0f}/s = {', '.join(against)}; "
              f"modelhub's gRPC = {median_ratio(values, 'grpc', 'bare'):.2f}x the bare gRPC server")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
