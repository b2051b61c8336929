"""Zero-downtime deployment benchmark (issue 6).

Starts modelhub (2 server processes + a worker) on a temporary data folder, serves v1 of a model, drives it with
8 concurrent keep-alive connections, deploys v2 over it and prints: failed requests (target 0), time from
POST /deploy to the switch, and the p99 latency while the deployment runs over the steady-state p99 measured
just before it in the same run (target <= 3x).

    .venv/bin/python benchmarks/deploy.py [--connections 8] [--steady 5]
"""

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
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


def deploy_and_wait(url: str, model_id: str) -> dict:
    task = requests.post(
        f"{url}/deploy", json={"model_id": model_id, "config": {"drain_seconds": 2}}, timeout=30
    ).json()
    while task["status"] in ("pending", "processing"):
        time.sleep(0.1)
        task = requests.get(f"{url}/deploy/{task['task_id']}", timeout=30).json()
    return task


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--steady", type=float, default=5.0, help="seconds of steady-state load before deploying"
    )
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="modelhub-bench-deploy-") as tmp,
        live_service(Path(tmp) / "data", workers=2) as service,
    ):
        v1 = register(service.url, ir_zip(build_constant_model(1.0), Path(tmp)), "1")
        v2 = register(service.url, ir_zip(build_constant_model(2.0), Path(tmp)), "2")
        first = deploy_and_wait(service.url, v1)
        assert first["status"] == "done", first

        load = LoadGenerator(service.url, "bench", threads=args.connections).start()
        time.sleep(1.0)  # connections open, caches warm
        steady_from = time.time()
        time.sleep(args.steady)
        posted = time.time()
        task = deploy_and_wait(service.url, v2)
        finished = time.time()
        time.sleep(1.0)
        samples = load.stop()

    if task["status"] != "done":
        print(f"deployment ended {task['status']}: {task['detail']}")
        return 1
    switched = datetime.fromisoformat(task["metadata"]["switched_at"].replace("Z", "+00:00")).timestamp()
    steady = [s for s in samples if steady_from <= s.sent < posted]
    during = [s for s in samples if posted <= s.sent <= finished]
    around_switch = [s for s in samples if switched - 1 <= s.sent <= switched + 1]
    failed = [s for s in samples if s.error]
    went_back = [
        s
        for s in samples
        if s.value == 1.0 and s.sent > min((t.received for t in samples if t.value == 2.0), default=1e18)
    ]
    steady_p99, during_p99, switch_p99 = p99(steady), p99(during), p99(around_switch)
    ratio = during_p99 / steady_p99

    print(f"connections                  {args.connections} (2 server processes)")
    print(f"requests                     {len(samples)} ({len(steady) / args.steady:.0f} req/s steady)")
    print(f"failed requests              {len(failed)}   target 0  -> {'PASS' if not failed else 'FAIL'}")
    print(
        f"answers back to v1 after v2  {len(went_back)}   target 0  -> {'PASS' if not went_back else 'FAIL'}"
    )
    print(
        f"POST /deploy -> switch       {switched - posted:.2f} s (task done after {finished - posted:.2f} s)"
    )
    print(
        f"p99 steady state             {steady_p99:.1f} ms (median {statistics.median(s.received - s.sent for s in steady) * 1000:.1f} ms)"
    )
    print(
        f"p99 during the deployment    {during_p99:.1f} ms   ratio {ratio:.2f}x  target <= 3x -> {'PASS' if ratio <= 3 else 'FAIL'}"
    )
    print(f"p99 within 1 s of the switch {switch_p99:.1f} ms   ratio {switch_p99 / steady_p99:.2f}x")
    return 0 if not failed and not went_back and ratio <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
