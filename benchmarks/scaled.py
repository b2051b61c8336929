"""Scaled-out serving benchmark: two server replicas behind nginx against one replica without nginx.

    .venv/bin/python benchmarks/scaled.py [--seconds 8] [--rounds 4] [--connections 8]

Starts PostgreSQL (Debian package, a throwaway cluster), moto's S3 server, two modelhub server replicas with
their own data folders on that database and bucket, and nginx with the site file of deploy/nginx/modelhub.conf (tests/services.py, the
same code the multi-node tests use). Registers and serves the light model of benchmarks/serving.py (Silero VAD
from PyPI: two inputs, two outputs) and checks the answers, then measures with `wrk`, batch 1, KServe v2 JSON:
  - baseline: one replica, no nginx, --connections connections;
  - target:   both replicas behind nginx, same connections (throughput ratio to the baseline);
  - latency:  one replica with and without nginx in front at 1 connection (nginx's added p50/p99).
Rounds are interleaved and every other round runs in reverse (ABBA); medians of the rounds are reported, and
ratios are the median of the per-round ratios, because this kind of VM drifts within a minute.
On a 2-core machine both replicas share the same two cores as nginx and wrk: the figure shows what the extra
hop costs there, not what a second machine would add. Results go to benchmarks/results/.
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.report import machine_load, measurement_options  # noqa: E402
from benchmarks.serving import RESULTS, check_answers, make_requests, median, wrk  # noqa: E402
from tests import services  # noqa: E402
from tests.live import LiveService  # noqa: E402
from tests.modelfiles import onnx_zip, silero_vad_onnx  # noqa: E402

MODEL = "silero"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    measurement_options(parser)
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed. On Debian/Ubuntu: sudo apt-get install -y wrk", file=sys.stderr)
        return 2
    load = machine_load()

    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="modelhub-bench-scaled-")))
        pg = stack.enter_context(services.postgres())
        pg.sql('CREATE DATABASE "modelhub"')
        s3 = stack.enter_context(services.s3_server(scratch))
        env = {
            "DATABASE_URL": pg.url("modelhub"),
            **s3.env(s3.create_bucket()),
            "DJANGO_SECRET_KEY": "benchmark-" + "k" * 50,
            "MODELHUB_LOG_LEVEL": "WARNING",
            "MODELHUB_ROLE": "server",
        }
        replicas = []
        for name in ("node-a", "node-b"):
            replica = LiveService(scratch / name, with_worker=False, env=env, isolate=False)
            stack.callback(replica.stop)
            replicas.append(replica.start())
        both = stack.enter_context(
            services.nginx(scratch / "nginx-both", [f"127.0.0.1:{replica.port}" for replica in replicas])
        )
        one = stack.enter_context(services.nginx(scratch / "nginx-one", [f"127.0.0.1:{replicas[0].port}"]))

        model = silero_vad_onnx()
        response = _post_model(replicas[0].url, onnx_zip(model))
        if response != 201:
            raise RuntimeError(f"registering {MODEL} failed: {response}")
        replicas[0].manage("serve_model", MODEL, "--wait", "--timeout", "300")
        bodies = scratch / "bodies"
        bodies.mkdir()
        requests = make_requests(MODEL, model, bodies)
        for url in (replicas[0].url, replicas[1].url, both.url, one.url):
            check_answers(url, MODEL, model, requests, kinds=("json",))

        single = argparse.Namespace(seconds=options.seconds, connections=1)
        measure = {
            "direct": lambda: wrk(replicas[0].url + requests["json"]["path"], requests["json"], options),
            "nginx-2": lambda: wrk(both.url + requests["json"]["path"], requests["json"], options),
            "direct-c1": lambda: wrk(replicas[0].url + requests["json"]["path"], requests["json"], single),
            "nginx-1-c1": lambda: wrk(one.url + requests["json"]["path"], requests["json"], single),
        }
        samples: dict[str, list[dict[str, float]]] = {key: [] for key in measure}
        order = list(measure)
        for round_number in range(options.rounds):
            for key in order if round_number % 2 == 0 else reversed(order):
                samples[key].append(measure[key]())
            print(
                f"   round {round_number + 1}: "
                + ", ".join(f"{k} {v[-1]['rps']:.0f}/s" for k, v in samples.items())
            )

    results: dict[str, Any] = {
        "model": MODEL,
        "connections": options.connections,
        "seconds": options.seconds,
        "rounds": options.rounds,
        "load_before": load,
        "load_after": os.getloadavg()[0],
        "sides": {key: median(values) for key, values in samples.items()},
        "samples": samples,
    }
    report(results)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"scaled-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"\nSaved {out.relative_to(ROOT)}")
    return 0


def _post_model(url: str, archive: bytes) -> int:
    import requests

    response = requests.post(
        f"{url}/models",
        data={"id": MODEL, "name": MODEL, "version": "1"},
        files={"file": (f"{MODEL}.zip", archive, "application/zip")},
        timeout=120,
    )
    return response.status_code


def report(results: dict[str, Any]) -> None:
    samples = results["samples"]

    def per_round(top: str, bottom: str, field: str) -> list[float]:
        return [a[field] / b[field] for a, b in zip(samples[top], samples[bottom], strict=True)]

    def per_round_diff(top: str, bottom: str, field: str) -> list[float]:
        return [a[field] - b[field] for a, b in zip(samples[top], samples[bottom], strict=True)]

    sides = results["sides"]
    print(
        f"\n== {MODEL}, KServe v2 JSON, batch 1 ({results['connections']} connections, median of {results['rounds']} rounds)"
    )
    print(f"  {'side':<34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    labels = {
        "direct": f"one replica, no nginx (baseline), c{results['connections']}",
        "nginx-2": f"two replicas behind nginx, c{results['connections']}",
        "direct-c1": "one replica, no nginx, c1",
        "nginx-1-c1": "one replica behind nginx, c1",
    }
    for key, label in labels.items():
        side = sides[key]
        print(f"  {label:<34} {side['rps']:8.0f} {side['p50_ms']:8.2f} {side['p99_ms']:8.2f}")
    throughput = per_round("nginx-2", "direct", "rps")
    p50 = per_round_diff("nginx-1-c1", "direct-c1", "p50_ms")
    p99 = per_round_diff("nginx-1-c1", "direct-c1", "p99_ms")
    results["ratios"] = {
        "throughput_two_replicas_nginx_vs_one_direct": round(statistics.median(throughput), 3),
        "throughput_rounds": [round(r, 3) for r in throughput],
        "nginx_added_p50_ms": round(statistics.median(p50), 3),
        "nginx_added_p99_ms": round(statistics.median(p99), 3),
    }
    print(
        f"\n  two replicas behind nginx / one replica direct: {statistics.median(throughput):.2f}x"
        f"  (rounds {min(throughput):.2f}-{max(throughput):.2f})"
    )
    print(
        f"  nginx's added latency at 1 connection: p50 {statistics.median(p50):+.2f} ms, p99 {statistics.median(p99):+.2f} ms"
    )


if __name__ == "__main__":
    sys.exit(main())
