"""A real modelhub on a free local port: migrated data folder, uvicorn server process(es), django-q2 worker.

Used by tests that must prove behaviour across processes (streaming uploads, WebSocket progress, every
server process switching versions). Talk to it over HTTP only; its database is its own.
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

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveService:
    def __init__(
        self, data_dir: Path, *, workers: int = 1, with_worker: bool = True, env: dict[str, str] | None = None
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.grpc_port = free_port()  # never the default 9000: tests run side by side
        self.grpc_address = f"127.0.0.1:{self.grpc_port}"
        self.workers = workers
        self.with_worker = with_worker
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "MODELHUB_DATA_DIR": str(data_dir),
            "MODELHUB_LOG_LEVEL": "INFO",
            "MODELHUB_TASK_POLL_SECONDS": "0.1",
            "PYTHONUNBUFFERED": "1",
            "GRPC_PORT": str(self.grpc_port),
            **(env or {}),
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def manage(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def start(self) -> "LiveService":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.manage("migrate", "--noinput")
        self.start_server()
        if self.with_worker:
            self.start_worker()
        return self

    def start_server(self) -> None:
        from config.run import server_command

        log = open(self.data_dir / "server.out", "ab")
        self.processes["server"] = subprocess.Popen(
            server_command("127.0.0.1", str(self.port), self.workers, access_log=False),
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/health", timeout=1).ok:
                    return
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or slow on a busy machine
                pass
            if self.processes["server"].poll() is not None:
                raise RuntimeError(f"server exited: {self.log_tail()}")
            time.sleep(0.1)
        raise RuntimeError(f"server did not answer /health: {self.log_tail()}")

    def start_worker(self) -> None:
        log = open(self.data_dir / "worker.out", "ab")
        # Its own session: the cluster's worker processes are grandchildren, and kill_worker must reach them too.
        self.processes["worker"] = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop_process(self, name: str, *, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill_worker(self) -> None:
        """SIGKILL the worker and its children (a crash, not a shutdown)."""
        process = self.processes.pop("worker", None)
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()

    def stop(self) -> None:
        for name in list(self.processes):
            self.stop_process(name)

    def log_tail(self, lines: int = 60) -> str:
        text = ""
        for name in ("server.out", "worker.out"):
            path = self.data_dir / name
            if path.exists():
                text += f"\n--- {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return text


@contextmanager
def live_service(data_dir: Path, **kwargs: object) -> Iterator[LiveService]:
    service = LiveService(data_dir, **kwargs)  # type: ignore[arg-type]
    try:
        yield service.start()
    finally:
        service.stop()
