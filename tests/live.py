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
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def topology_env() -> dict[str, str]:
    """Under `make test-scaled` (tests/topology.py): a database, a Redis database number and a bucket prefix of
    this service's own on the shared engines, so live services never see each other's rows, groups or files."""
    env: dict[str, str] = {}
    database_url = os.environ.get("DATABASE_URL", "")
    if database_url.startswith(("postgres://", "postgresql://")):
        import psycopg

        name = f"live_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        env["DATABASE_URL"] = urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
    redis_url = os.environ.get("REDIS_URL", "")
    if redis_url:
        import redis

        parts = urlsplit(redis_url)
        # tests/services.py starts Redis with 256 databases; 0 is the test process's own.
        number = 1 + (redis.Redis.from_url(redis_url).incr("modelhub-tests:live-db") - 1) % 255
        env["REDIS_URL"] = urlunsplit(parts._replace(path=f"/{number}"))
    if os.environ.get("MODELHUB_S3_BUCKET"):
        env["MODELHUB_S3_PREFIX"] = f"live-{uuid.uuid4().hex[:12]}"
    return env


class LiveService:
    def __init__(
        self,
        data_dir: Path,
        *,
        workers: int = 1,
        with_worker: bool = True,
        env: dict[str, str] | None = None,
        isolate: bool = True,
    ) -> None:
        """`isolate=False`: use the engines named in `env` as they are (several services of one topology)."""
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
            **(topology_env() if isolate else {}),
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
                # /health probes the database and the storage (a bucket round trip on S3): give it time.
                if requests.get(f"{self.url}/health", timeout=5).ok:
                    return
            except requests.RequestException:
                pass
            if self.processes["server"].poll() is not None:
                raise RuntimeError(f"server exited: {self.log_tail()}")
            time.sleep(0.1)
        raise RuntimeError(f"server did not answer /health: {self.log_tail()}")

    def start_worker(self) -> None:
        log = open(self.data_dir / "worker.out", "ab")
        # Its own session: the cluster's worker processes are grandchildren, and kill_worker must reach them too.
        self.processes["worker"] = subprocess.Popen(
            [sys.executable, "-m", "config.worker"],  # both clusters: tasks and URL downloads
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

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[dict[str, object]]:
        """Rows read straight from this service's database (SQLite file or PostgreSQL), no API in between.

        Write `?` placeholders; a timezone-aware datetime parameter is passed the way Django stores it."""
        database_url = self.env.get("DATABASE_URL", "")
        if database_url.startswith(("postgres://", "postgresql://")):
            import psycopg
            from psycopg.rows import dict_row

            with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as db:
                return list(db.execute(sql.replace("?", "%s"), params).fetchall())  # type: ignore[arg-type]
        import sqlite3

        converted = tuple(
            value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
            if isinstance(value, datetime)
            else value
            for value in params
        )
        with sqlite3.connect(self.data_dir / "modelhub.sqlite3", timeout=10) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute(sql, converted).fetchall()]

    def stored_artifacts(self) -> list[str]:
        """What this service holds in its artifact storage: files under its data folder, or the objects under
        its prefix of the bucket when it stores in S3."""
        bucket = self.env.get("MODELHUB_S3_BUCKET")
        if not bucket:
            folder = self.data_dir / "artifacts"
            return sorted(str(path) for path in folder.rglob("*") if path.is_file())
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=self.env.get("MODELHUB_S3_ENDPOINT_URL") or None,
            region_name=self.env.get("MODELHUB_S3_REGION") or None,
            aws_access_key_id=self.env.get("MODELHUB_S3_ACCESS_KEY_ID") or None,
            aws_secret_access_key=self.env.get("MODELHUB_S3_SECRET_ACCESS_KEY") or None,
        )
        prefix = self.env.get("MODELHUB_S3_PREFIX", "")
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{prefix}/models/" if prefix else "models/"
        )
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

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
