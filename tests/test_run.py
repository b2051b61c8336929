"""config/run.py: roles, one clean shutdown per Ctrl-C, and no process outliving the command that started it.

Each test starts `python -m config.run` as a terminal would start a job (its own process group), with a
unique data folder; every process of its tree inherits MODELHUB_DATA_DIR, which is how survivors are found
(in /proc, whatever their parent has become).
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from config.run import role_from
from tests.live import ROOT, free_port

pytestmark = pytest.mark.live

# uvicorn + qcluster + sentinel + 2 workers + monitor + pusher, and the download cluster: its config.worker +
# sentinel + 1 worker + monitor + pusher
MODELHUB_PROCESSES_WITH_WORKER = 12


def processes_of(data_dir: Path) -> set[int]:
    """Pids of the live (non-zombie) processes whose environment has this data folder."""
    marker = f"MODELHUB_DATA_DIR={data_dir}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
        except OSError:
            continue
        found.add(int(entry.name))
    return found


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def wait_until(condition: object, *, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, message
        time.sleep(0.2)


class Job:
    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.out = data_dir / "run.out"
        data_dir.mkdir(parents=True, exist_ok=True)
        environ = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "MODELHUB_DATA_DIR": str(data_dir),
            "PORT": str(self.port),
            "GRPC_PORT": str(free_port()),  # never the default 9000: tests run side by side
            "MODELHUB_WORKERS": "2",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        # start_new_session: the job is its own process group, like a shell's foreground job
        self.process = subprocess.Popen(
            [sys.executable, "-m", "config.run", *args],
            cwd=ROOT,
            env=environ,
            stdout=self.out.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_healthy(self) -> None:
        def healthy() -> bool:
            assert self.process.poll() is None, self.output()
            try:
                return requests.get(f"http://127.0.0.1:{self.port}/v2/health/live", timeout=1).ok
            except requests.ConnectionError:
                return False

        wait_until(healthy, timeout=90, message=f"no answer: {self.output()}")

    def wait_processes(self, count: int) -> None:
        wait_until(
            lambda: len(processes_of(self.data_dir)) >= count,
            timeout=60,
            message=f"fewer than {count} processes: {self.output()}",
        )

    def kill_all(self) -> None:
        for pid in processes_of(self.data_dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@contextmanager
def job(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Job]:
    started = Job(data_dir, *args, env=env)
    try:
        yield started
    finally:
        started.kill_all()
        started.process.wait(timeout=10)


def test_the_role_comes_from_the_option_or_the_environment() -> None:
    assert role_from([], {}) == "all"
    assert role_from([], {"MODELHUB_ROLE": "Worker"}) == "worker"
    assert role_from(["--role", "server"], {"MODELHUB_ROLE": "worker"}) == "server"
    with pytest.raises(SystemExit):
        role_from([], {"MODELHUB_ROLE": "everything"})
    with pytest.raises(SystemExit):
        role_from(["--role", "web"], {})


def test_ctrl_c_runs_one_clean_shutdown_and_leaves_no_process(tmp_path: Path) -> None:
    with job(tmp_path / "data") as run:
        run.wait_healthy()
        run.wait_processes(MODELHUB_PROCESSES_WITH_WORKER)
        # A request in flight makes the graceful shutdown last: a second SIGINT meanwhile would force-exit
        body = b'{"not": "a model"}'
        request = socket.create_connection(("127.0.0.1", run.port))
        request.sendall(
            b"POST /models HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body[:5])
        )
        time.sleep(0.5)
        os.killpg(run.process.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        time.sleep(1.5)
        request.sendall(body[5:])
        assert request.recv(4096).startswith(b"HTTP/1.1 4")  # the request in flight was answered
        request.close()
        assert run.process.wait(timeout=60) == 0, run.output()
        output = run.output()
        assert "Application shutdown complete" in output, output  # the ASGI lifespan shutdown ran
        assert "CancelledError" not in output and "Traceback" not in output, output
        assert "has stopped" in output, output  # django-q2's cluster stopped cleanly
        wait_until(lambda: not processes_of(run.data_dir), timeout=30, message="processes survived")


def test_a_killed_run_takes_its_server_and_workers_with_it(tmp_path: Path) -> None:
    with job(tmp_path / "data") as run:
        run.wait_healthy()
        run.wait_processes(MODELHUB_PROCESSES_WITH_WORKER)
        run.process.kill()
        run.process.wait()
        wait_until(
            lambda: not processes_of(run.data_dir),
            timeout=60,
            message=f"survived SIGKILL of run.py: {processes_of(run.data_dir)}\n{run.output()}",
        )


def test_a_killed_cluster_takes_its_sentinel_and_workers_with_it(tmp_path: Path) -> None:
    with job(tmp_path / "data", "--role", "worker") as run:
        run.wait_processes(12)  # run.py + the task cluster (6 processes) + the download cluster (5)
        cluster = next(  # the cluster's forks share its command line; it is the one run.py started
            pid
            for pid in processes_of(run.data_dir)
            if b"config.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
            and parent_of(pid) == run.process.pid
        )
        os.kill(cluster, signal.SIGKILL)
        assert run.process.wait(timeout=60) != 0  # run.py saw its worker die and stopped
        wait_until(
            lambda: not processes_of(run.data_dir),
            timeout=60,
            message=f"survived SIGKILL of the cluster: {processes_of(run.data_dir)}\n{run.output()}",
        )


def test_the_server_role_runs_no_worker(tmp_path: Path) -> None:
    with job(tmp_path / "data", env={"MODELHUB_ROLE": "server"}) as run:
        run.wait_healthy()
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in processes_of(run.data_dir)]
        assert not [c for c in commands if b"config.worker" in c or b"qcluster" in c]
        assert len([c for c in commands if b"config.serve" in c]) == 1
        os.killpg(run.process.pid, signal.SIGINT)
        assert run.process.wait(timeout=60) == 0, run.output()
