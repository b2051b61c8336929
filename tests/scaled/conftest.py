"""The multi-node topology, started for real: PostgreSQL, Redis, S3 (moto), two server replicas with their own
data folders behind nginx, and one worker-only process (a third "host").

The engines here are this module's own (the tests stop PostgreSQL and restart Redis), except the S3 server,
which is shared with the rest of `make test-scaled` when one is running (a bucket of its own here).
"""

import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests import services
from tests.live import LiveService


@dataclass
class Topology:
    postgres: services.Postgres
    redis: services.Redis
    s3: services.S3
    bucket: str
    env: dict[str, str]
    replicas: list[LiveService]
    worker: LiveService
    nginx: services.Nginx

    @property
    def url(self) -> str:
        """The load balancer: what clients use."""
        return self.nginx.url

    def data_dirs(self) -> list[Path]:
        return [service.data_dir for service in (*self.replicas, self.worker)]

    def log_tail(self) -> str:
        return "".join(service.log_tail(30) for service in (*self.replicas, self.worker))


@pytest.fixture(scope="package")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    for binary, package in (("redis-server", "redis-server"), ("nginx", "nginx")):
        if shutil.which(binary) is None and not Path(f"/usr/sbin/{binary}").exists():
            pytest.fail(f"{binary} is not installed (apt-get install {package})")
    root = tmp_path_factory.mktemp("topology")
    with ExitStack() as stack:
        pg = stack.enter_context(services.postgres())
        pg.sql('CREATE DATABASE "modelhub"')
        redis = stack.enter_context(services.redis_server())
        if os.environ.get("MODELHUB_S3_ENDPOINT_URL"):  # the suite's S3 server (tests/topology.py)
            s3 = services.S3(port=int(os.environ["MODELHUB_S3_ENDPOINT_URL"].rsplit(":", 1)[1]))
        else:
            s3 = stack.enter_context(services.s3_server(root))
        bucket = s3.create_bucket()
        env = {
            "DATABASE_URL": pg.url("modelhub"),
            "REDIS_URL": redis.url(0),
            **s3.env(bucket),
            # One key for every node: django-q2 signs the tasks the servers enqueue for the worker with it.
            "DJANGO_SECRET_KEY": "scaled-topology-test-key-" + "x" * 40,
            "MODELHUB_DEPLOYMENT_STALE_SECONDS": "10",
            "MODELHUB_TASK_POLL_SECONDS": "0.1",
        }
        replicas = []
        for name in ("node-a", "node-b"):
            replica = LiveService(
                root / name,
                workers=1,
                with_worker=False,
                env={**env, "MODELHUB_ROLE": "server"},
                isolate=False,
            )
            stack.callback(replica.stop)
            replicas.append(replica.start())
        worker = LiveService(root / "worker", env={**env, "MODELHUB_ROLE": "worker"}, isolate=False)
        worker.data_dir.mkdir(parents=True)
        stack.callback(worker.stop)
        worker.start_worker()
        balancer = stack.enter_context(
            services.nginx(root / "nginx", [f"127.0.0.1:{replica.port}" for replica in replicas])
        )
        topology = Topology(pg, redis, s3, bucket, env, replicas, worker, balancer)
        assert requests.get(f"{topology.url}/health", timeout=10).status_code == 200
        yield topology
