"""Peak memory of a live server process, for the resource-bound tests (issue 20: "RSS growth under a bound").

Linux keeps a process's peak resident size (VmHWM) and lets its owner reset it to the current size (writing 5
to /proc/<pid>/clear_refs), so a test measures the peak of exactly the requests it sends.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MIB = 1024**2


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


@dataclass
class PeakGrowth:
    mib: float = 0.0


@contextmanager
def peak_growth(pid: int) -> Iterator[PeakGrowth]:
    """How far the process's peak RSS rose above its RSS at entry, in MiB, while the block ran."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    start = _status_kib(pid, "VmRSS")
    growth = PeakGrowth()
    try:
        yield growth
    finally:
        growth.mib = (_status_kib(pid, "VmHWM") - start) / 1024
        print(f"peak RSS growth: {growth.mib:.1f} MiB")  # shown with pytest -s: the figures of the docs
