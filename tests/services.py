"""The production topology's engines, started from packages for tests: PostgreSQL, Redis, an S3 server, nginx.

Each one binds to 127.0.0.1 on a free port, keeps its state in a temp folder of its own and is stopped by
its context manager. PostgreSQL and Redis come from Debian packages (`postgresql`, `redis-server`), the S3
server is moto's server mode (`moto[server]`, test extra), the load balancer is Debian's `nginx` running the
site file the operator docs ship (`deploy/nginx/modelhub.conf`).
"""

import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.live import ROOT, free_port

NGINX_SITE = ROOT / "deploy" / "nginx" / "modelhub.conf"


class ServiceUnavailable(RuntimeError):
    """A package this topology needs is not installed; the message names it."""


def _wait(check, what: str, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - any failure means "not up yet"
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up within {timeout} s")
        time.sleep(0.05)


# --- PostgreSQL ----------------------------------------------------------------------------------------


def postgres_bin_dir() -> Path:
    """The newest Debian PostgreSQL server binaries (pg_ctl is not on PATH there)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    raise ServiceUnavailable("PostgreSQL is not installed (apt-get install postgresql)")


@dataclass
class Postgres:
    """A throwaway cluster: trust authentication on 127.0.0.1 and on a unix socket in its own folder."""

    folder: Path
    port: int = field(default_factory=free_port)
    user: str = "postgres"

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{database}"

    def _run_as_owner(self, *command: str, **kwargs) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
        # PostgreSQL refuses to run as root: then the cluster belongs to the `postgres` system user.
        prefix: list[str] = []
        if os.geteuid() == 0:
            prefix = ["runuser", "-u", "postgres", "--"]
        return subprocess.run([*prefix, *command], capture_output=True, text=True, check=True, **kwargs)

    def init(self) -> "Postgres":
        bin_dir = postgres_bin_dir()
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise ServiceUnavailable("running as root needs the `postgres` system user") from None
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self.folder.chmod(0o700)
        self._run_as_owner(
            str(bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            "--auth=trust",
            "--no-sync",
            "--encoding=UTF8",
            "--locale=C",
        )
        settings = (
            f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
            f"unix_socket_directories = '{self.folder}'\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            "max_connections = 300\nshared_buffers = 64MB\n"
        )
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write(settings)
        return self

    def start(self) -> None:
        self._run_as_owner(
            str(postgres_bin_dir() / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.folder / "postgres.log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run_as_owner(
            str(postgres_bin_dir() / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"
        )

    def is_running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()

    def sql(self, statement: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as connection:
            connection.execute(statement)  # type: ignore[arg-type]

    def create_database(self, prefix: str = "modelhub") -> str:
        """A new empty database; returns its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self.sql(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def postgres() -> Iterator[Postgres]:
    # Not under pytest's tmp folders: those are private to root, and the server runs as `postgres`.
    folder = Path(tempfile.mkdtemp(prefix="modelhub-pg-"))
    server = Postgres(folder).init()
    try:
        server.start()
        yield server
    finally:
        if server.is_running():
            try:
                server.stop(mode="immediate")
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(folder, ignore_errors=True)


# --- Redis ---------------------------------------------------------------------------------------------


@dataclass
class Redis:
    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceUnavailable("redis-server is not installed (apt-get install redis-server)")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--databases", "256", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis.from_url(self.url())
        _wait(client.ping, "redis-server")

    def stop(self) -> None:
        _stop(self.process, signal.SIGTERM)
        self.process = None


@contextmanager
def redis_server() -> Iterator[Redis]:
    folder = Path(tempfile.mkdtemp(prefix="modelhub-redis-"))
    server = Redis(folder)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


# --- S3 (moto's server mode) ---------------------------------------------------------------------------


@dataclass
class S3:
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    access_key: str = "modelhub-test"
    secret_key: str = "modelhub-test-secret"
    region: str = "us-east-1"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def start(self, log: Path) -> None:
        try:
            import moto.server  # noqa: F401
        except ImportError:
            raise ServiceUnavailable(
                "moto's server mode is not installed (pip install 'moto[server]')"
            ) from None
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=open(log, "ab"),
            stderr=subprocess.STDOUT,
        )
        _wait(lambda: requests.get(f"{self.endpoint}/moto-api/", timeout=1).ok, "moto_server")

    def create_bucket(self, name: str | None = None) -> str:
        name = name or f"modelhub-{uuid.uuid4().hex[:10]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def env(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """The MODELHUB_S3_* settings for this server and bucket."""
        return {
            "MODELHUB_S3_BUCKET": bucket,
            "MODELHUB_S3_ENDPOINT_URL": self.endpoint,
            "MODELHUB_S3_REGION": self.region,
            "MODELHUB_S3_ACCESS_KEY_ID": self.access_key,
            "MODELHUB_S3_SECRET_ACCESS_KEY": self.secret_key,
            "MODELHUB_S3_PREFIX": prefix,
        }

    def stop(self) -> None:
        _stop(self.process, signal.SIGTERM)
        self.process = None


@contextmanager
def s3_server(folder: Path | None = None) -> Iterator[S3]:
    own = folder is None
    folder = folder or Path(tempfile.mkdtemp(prefix="modelhub-s3-"))
    server = S3()
    try:
        server.start(folder / "moto.log")
        yield server
    finally:
        server.stop()
        if own:
            shutil.rmtree(folder, ignore_errors=True)


# --- nginx ---------------------------------------------------------------------------------------------


def render_nginx_site(upstreams: list[str], listen: str) -> str:
    """deploy/nginx/modelhub.conf with its example upstream servers and listen address replaced."""
    text = NGINX_SITE.read_text()
    lines = "".join(f"    server {address} max_fails=1 fail_timeout=2s;\n" for address in upstreams)
    text, count = re.subn(
        r"(?m)^    server \S+ max_fails=.*\n(?:    server \S+ max_fails=.*\n)*", lines, text
    )
    if count != 1:
        raise RuntimeError(f"{NGINX_SITE}: expected one block of upstream `server` lines")
    text, count = re.subn(r"(?m)^(\s*)listen \S+;", rf"\1listen {listen};", text)
    if count != 1:
        raise RuntimeError(f"{NGINX_SITE}: expected one `listen` line")
    return text


@dataclass
class Nginx:
    folder: Path
    upstreams: list[str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
        if binary is None:
            raise ServiceUnavailable("nginx is not installed (apt-get install nginx)")
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "modelhub.conf").write_text(
            render_nginx_site(self.upstreams, f"127.0.0.1:{self.port}")
        )
        # The main file Debian's /etc/nginx/nginx.conf would be, reduced to what a foreground test instance needs.
        user = "user root root;\n" if os.geteuid() == 0 else ""
        temp = self.folder / "temp"
        temp.mkdir(exist_ok=True)
        (self.folder / "nginx.conf").write_text(
            f"{user}worker_processes 1;\ndaemon off;\npid {self.folder}/nginx.pid;\n"
            f"error_log {self.folder}/error.log warn;\nevents {{ worker_connections 2048; }}\n"
            "http {\n"
            f"    access_log {self.folder}/access.log;\n"
            f"    client_body_temp_path {temp}/body;\n    proxy_temp_path {temp}/proxy;\n"
            f"    fastcgi_temp_path {temp}/fastcgi;\n    uwsgi_temp_path {temp}/uwsgi;\n"
            f"    scgi_temp_path {temp}/scgi;\n"
            f"    include {self.folder}/modelhub.conf;\n"
            "}\n"
        )
        self.process = subprocess.Popen(
            [binary, "-p", str(self.folder), "-c", str(self.folder / "nginx.conf")],
            stdout=open(self.folder / "nginx.out", "ab"),
            stderr=subprocess.STDOUT,
        )

        def answers() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError("nginx exited: " + (self.folder / "nginx.out").read_text())
            requests.get(f"{self.url}/v2/health/live", timeout=1)
            return True

        _wait(answers, "nginx")

    def stop(self) -> None:
        _stop(self.process, signal.SIGQUIT)  # graceful: finish the requests in flight
        self.process = None


@contextmanager
def nginx(folder: Path, upstreams: list[str]) -> Iterator[Nginx]:
    server = Nginx(folder, upstreams)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _stop(process: subprocess.Popen[bytes] | None, how: signal.Signals) -> None:
    """Stop a server we started with `how`; killed if it has not ended within 10 s."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(how)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
