"""Shadow traffic benchmark (issue 22): the stable version's p99 with a shadow on, over the p99 with it off.

Starts modelhub (2 server processes + a worker) on a temporary data folder, serves v1 of a model, drives it with
N concurrent keep-alive connections and measures the client-side p99 three times: shadow off, shadow on (v2
receives a copy of `--weight` % of the requests), shadow off again (after the rollback). Prints each p99, the
ratio on / mean(off) (target <= 1.1x), failed requests (target 0), and the shadow copies by outcome
(modelhub_shadow_copies: same, different, failed, dropped).

    .venv/bin/python benchmarks/shadow.py [--connections 8] [--seconds 10] [--weight 100]

On a shared 2-core machine a copy competes with the stable version for the CPU: the ratio depends on how much of a
request's time is inference (light models: mostly HTTP) and on MODELHUB_SHADOW_MAX_IN_FLIGHT.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.deployments.loadgen import LoadGenerator, Sample  # noqa: E402
from tests.live import live_service  # noqa: E402
from tests.modelfiles import build_constant_model, ir_zip  # noqa: E402


def p99(samples: list[Sample]) -> float:
    latencies = sorted(s.received - s.sent for s in samples)
    return latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000


def register(url: str, archive: bytes, version: str) -> str:
    response = requests.post(
        f"{url}/models",
        files={"file": ("m.zip", archive)},
        data={"name": "bench", "version": version},
        timeout=60,
    )
    response.raise_for_status()
    return response.text


def wait(url: str, task_id: str, *, until_weight: int | None = None) -> dict:
    while True:
        task = requests.get(f"{url}/deploy/{task_id}", timeout=30).json()
        if task["status"] not in ("pending", "processing"):
            return task
        if until_weight is not None and task["metadata"].get("weight") == until_weight:
            time.sleep(1.5)  # every server process reads it within a reconcile period
            return task
        time.sleep(0.1)


def measure(url: str, connections: int, seconds: float) -> list[Sample]:
    load = LoadGenerator(url, "bench", threads=connections).start()
    time.sleep(1.0)  # warm the connections; measure what follows
    start = time.time()
    time.sleep(seconds)
    samples = load.stop()
    return [s for s in samples if s.sent >= start]


def shadow_copies(url: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in requests.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith("modelhub_shadow_copies{"):
            outcome = line.split('outcome="')[1].split('"')[0]
            counts[outcome] = counts.get(outcome, 0) + int(float(line.rsplit(" ", 1)[1]))
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--weight", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, live_service(Path(tmp) / "data", workers=2) as service:
        url = service.url
        v1 = register(url, ir_zip(build_constant_model(1.0), Path(tmp)), "1")
        v2 = register(url, ir_zip(build_constant_model(2.0), Path(tmp)), "2")
        first = requests.post(f"{url}/deploy", json={"model_id": v1}, timeout=30).json()
        assert wait(url, first["task_id"])["status"] == "done"
        off_before = measure(url, args.connections, args.seconds)
        task = requests.post(
            f"{url}/deploy",
            json={"model_id": v2, "config": {"strategy": "shadow", "weight": args.weight}},
            timeout=30,
        ).json()
        wait(url, task["task_id"], until_weight=args.weight)
        on = measure(url, args.connections, args.seconds)
        copies = shadow_copies(url)
        requests.post(f"{url}/deploy/{task['task_id']}/rollback", timeout=30)
        assert wait(url, task["task_id"])["status"] == "canceled"
        off_after = measure(url, args.connections, args.seconds)
    off = (p99(off_before) + p99(off_after)) / 2
    failed = sum(1 for s in off_before + on + off_after if s.error)
    wrong = sum(1 for s in on if s.value != 1.0)
    print(f"connections {args.connections}, {args.seconds:g} s per run, shadow weight {args.weight} %")
    for label, samples in (("off", off_before), ("on", on), ("off again", off_after)):
        print(f"  shadow {label:<9}: {len(samples) / args.seconds:7.1f} req/s, p99 {p99(samples):6.2f} ms")
    print(f"p99 on / off: {p99(on) / off:.2f}x (target <= 1.1x)")
    print(f"failed requests: {failed}; answers not from the stable version while shadowing: {wrong}")
    print(f"shadow copies: {copies}")
    return 0 if failed == 0 and wrong == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
