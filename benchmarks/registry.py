"""Registry benchmark: a real server on a temporary data folder, ratios measured in the same run.

    .venv/bin/python benchmarks/registry.py [--upload-mib 1024] [--skip-upload] [--skip-list]

Targets (issue 2):
- upload of a 1 GiB ZIP: the server's peak RSS rises by < 100 MiB, upload-to-201 <= 3x `cp` of the same file;
- listing: time per listed model at 10,000 models <= 1.5x the time at 1,000, and a filtered query that
  matches 10 models <= 1/20 of the full 10,000 list.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live import LiveService, live_service  # noqa: E402
from tests.registry.uploads import MultipartStream, write_big_zip  # noqa: E402

MIB = 1024 * 1024
RESULTS: list[tuple[str, bool]] = []


def verdict(label: str, ok: bool, detail: str) -> None:
    RESULTS.append((label, ok))
    print(f"  [{'PASS' if ok else 'FAIL'}] {label}: {detail}", flush=True)


def proc_status(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


class RssSampler(threading.Thread):
    """Samples VmRSS every few ms: a cross-check of VmHWM (and the only figure where clear_refs is not allowed)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, proc_status(self.pid, "VmRSS"))
            time.sleep(0.005)


def sha256_seconds(path: Path) -> float:
    import hashlib

    digest = hashlib.sha256()
    started = time.perf_counter()
    with open(path, "rb") as source:
        while block := source.read(MIB):
            digest.update(block)
    return time.perf_counter() - started


def timed(action: Callable[[], object]) -> tuple[float, float]:
    """(seconds until `action` returns, seconds until `sync` has then put every dirty page on disk)."""
    os.sync()
    started = time.perf_counter()
    action()
    returned = time.perf_counter() - started
    os.sync()
    return returned, time.perf_counter() - started


def bench_upload(live: LiveService, work: Path, size_mib: int, rounds: int) -> None:
    print(f"\nUpload of a {size_mib} MiB ZIP (one stored entry) through the server", flush=True)
    archive = write_big_zip(work / "big.zip", size_mib * MIB, extra={"model.onnx": b"placeholder"})
    size = archive.stat().st_size
    client = "curl" if shutil.which("curl") else "python"
    print(f"  client: {client}; {rounds} rounds of (cp, upload), each pair measured back to back", flush=True)

    def copy() -> None:
        subprocess.run(["cp", str(archive), str(work / "copy.zip")], check=True)

    def upload(model_id: str) -> None:
        if client == "curl":
            command = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-F", f"file=@{archive};type=application/zip",
                       "-F", "name=big", "-F", "version=1", "-F", f"id={model_id}", f"{live.url}/models"]  # fmt: skip
            status = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
        else:
            body = MultipartStream({"name": "big", "version": "1", "id": model_id}, archive)
            status = str(
                requests.post(
                    f"{live.url}/models", data=body, headers={"Content-Type": body.content_type}, timeout=1800
                ).status_code
            )
        if status != "201":
            raise SystemExit(f"upload failed: {status}\n{live.log_tail()}")

    pid = live.processes["server"].pid
    hwm_reset = True
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        hwm_reset = False
    rss_before = proc_status(pid, "VmRSS")
    sampler = RssSampler(pid)
    sampler.start()
    pairs = []
    for number in range(rounds):
        cp = timed(copy)
        (work / "copy.zip").unlink()
        up = timed(lambda model_id=f"bench-big-{number}": upload(model_id))
        requests.delete(f"{live.url}/models/bench-big-{number}", timeout=60)
        pairs.append((cp, up))
        print(f"  round {number + 1}: cp {cp[0]:.2f} s (+sync {cp[1]:.2f} s), upload-to-201 {up[0]:.2f} s "
              f"(+sync {up[1]:.2f} s, {size / MIB / up[0]:.0f} MiB/s): {up[1] / cp[1]:.2f}x", flush=True)  # fmt: skip
    sampler.running = False
    sampler.join()
    peak = max(proc_status(pid, "VmHWM") if hwm_reset else 0, sampler.peak)
    rise = (peak - rss_before) / MIB
    print(f"  server RSS before {rss_before / MIB:.0f} MiB, peak {peak / MIB:.0f} MiB "
          f"({'VmHWM after clear_refs' if hwm_reset else 'sampled'} and sampled every 5 ms)")  # fmt: skip
    verdict("upload peak RSS rise < 100 MiB", rise < 100, f"{rise:.1f} MiB")
    page_cache = statistics.median(up[0] / cp[0] for cp, up in pairs)
    print(f"  page cache only: upload-to-201 / cp = {page_cache:.2f}x median (info: SHA-256 of the file alone "
          f"takes {sha256_seconds(archive):.2f} s here, the upload must compute it)")  # fmt: skip
    ratio = statistics.median(up[1] / cp[1] for cp, up in pairs)
    verdict(
        "upload time <= 3x cp (both until the bytes are on disk; median of paired rounds)",
        ratio <= 3,
        f"{ratio:.2f}x",
    )
    archive.unlink()


SEED = """
from registry.models import Model
Model.objects.all().delete()
prefix, count, needles = {prefix!r}, {count}, {needles}
rows = [Model(id=f"{{prefix}}{{i:05d}}", name=("needle-%d" % i) if i < needles else f"model-{{i}}", version=str(i % 7),
              precision=("FP16,INT8" if i % 2 else "FP32"), category="Detection", project_name="Bench",
              architecture="ResNet", labels=["cat", "dog"], overview={{"description": "benchmark row"}},
              size=1234, sha256="0" * 64, file=f"models/{{prefix}}{{i:05d}}.zip") for i in range(count)]
Model.objects.bulk_create(rows, batch_size=2000)
print(Model.objects.count())
"""


def seed(live: LiveService, count: int, needles: int) -> None:
    result = live.manage(
        "shell", "-c", SEED.format(prefix="bench", count=count, needles=needles), timeout=600
    )
    assert result.stdout.strip().endswith(str(count)), result.stdout + result.stderr


def timed_get(url: str, params: dict[str, str], repeats: int) -> tuple[float, int]:
    session = requests.Session()
    session.get(url, params=params, timeout=120)  # warm-up
    times = []
    count = 0
    for _ in range(repeats):
        started = time.perf_counter()
        response = session.get(url, params=params, timeout=120)
        times.append(time.perf_counter() - started)
        response.raise_for_status()
        count = len(response.json())
    return statistics.median(times), count


def bench_list(live: LiveService) -> None:
    print("\nListing GET /models (median of repeated requests)", flush=True)
    seed(live, 1000, 10)
    small, small_count = timed_get(f"{live.url}/models", {}, 15)
    seed(live, 10_000, 10)
    large, large_count = timed_get(f"{live.url}/models", {}, 7)
    filtered, filtered_count = timed_get(f"{live.url}/models", {"name": "needle"}, 25)
    assert (small_count, large_count, filtered_count) == (1000, 10_000, 10)
    per_small = small / small_count * 1e6
    per_large = large / large_count * 1e6
    print(f"  1,000 models: {small * 1000:.1f} ms ({per_small:.1f} us/model); "
          f"10,000 models: {large * 1000:.1f} ms ({per_large:.1f} us/model); "
          f"filter matching 10 of 10,000: {filtered * 1000:.1f} ms")  # fmt: skip
    verdict(
        "per-model time at 10,000 <= 1.5x at 1,000",
        per_large <= 1.5 * per_small,
        f"{per_large / per_small:.2f}x",
    )
    verdict(
        "filtered (10 rows) <= 1/20 of the full 10,000 list",
        filtered <= large / 20,
        f"1/{large / filtered:.0f}",
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--upload-mib", type=int, default=1024)
    parser.add_argument("--upload-rounds", type=int, default=5)
    parser.add_argument("--skip-upload", action="store_true")
    parser.add_argument("--skip-list", action="store_true")
    args = parser.parse_args()
    # The data folder, the big ZIP and its copies share one disk, in ./data (gitignored; not a tmpfs /tmp).
    (ROOT / "data").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-registry-", dir=ROOT / "data"))
    try:
        with live_service(
            work / "data", workers=1, with_worker=False, env={"MODELHUB_LOG_LEVEL": "WARNING"}
        ) as live:
            print(f"modelhub on {live.url}, data folder {work / 'data'}")
            if not args.skip_upload:
                bench_upload(live, work, args.upload_mib, args.upload_rounds)
            if not args.skip_list:
                bench_list(live)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failed = [label for label, ok in RESULTS if not ok]
    print(f"\n{len(RESULTS) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
