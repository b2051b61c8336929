"""Readiness of this server process for a load balancer: can it reach the database and the artifact storage?

Each check runs in a small thread pool of its own with a deadline, so a database that hangs (rather than
refusing connections) still gets an answer within CHECK_SECONDS, and never blocks Django's shared sync
thread. Messages name the failing component and the exception class only (no hosts, no credentials).
Liveness (`/v2/health/live`) does no I/O and is not here.
"""

import concurrent.futures
import logging
import uuid
from collections.abc import Callable

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connections

logger = logging.getLogger(__name__)

CHECK_SECONDS = 3.0
PROBE_PREFIX = ".health"  # outside the registry's `models/` prefix: never mistaken for an artifact

_pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="health")


def check_database() -> None:
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        connection.close()  # the next check reconnects from scratch
        raise


def check_storage() -> None:
    name = default_storage.save(f"{PROBE_PREFIX}/{uuid.uuid4().hex}", ContentFile(b"ok"))
    try:
        with default_storage.open(name, "rb") as stored:
            if stored.read() != b"ok":
                raise OSError("the probe object read back differently")
    finally:
        default_storage.delete(name)


CHECKS: dict[str, Callable[[], None]] = {"database": check_database, "storage": check_storage}


def failing_components(timeout: float = CHECK_SECONDS) -> dict[str, str]:
    """{component: reason} for each check that failed or did not finish in time; {} when all is well."""
    futures = {name: _pool.submit(check) for name, check in CHECKS.items()}
    done, _ = concurrent.futures.wait(futures.values(), timeout=timeout)
    failing = {}
    for name, future in futures.items():
        if future not in done:
            failing[name] = f"no answer within {timeout:g} s"
        elif (error := future.exception()) is not None:
            failing[name] = f"unreachable ({type(error).__name__})"
            logger.warning("Health check of the %s failed: %s", name, error)
    return failing
