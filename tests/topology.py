"""pytest plugin: run the suite on the production topology (`make test-scaled`, or `pytest -p tests.topology`).

Before Django's settings are read it starts PostgreSQL, Redis and an S3 server (tests/services.py) and exports
DATABASE_URL, REDIS_URL and MODELHUB_S3_*, so the test process and every live server it starts use them.
Each live server then gets a database, a Redis database number and a bucket prefix of its own
(tests/live.py).
"""

import os
from collections.abc import Generator
from contextlib import ExitStack

import pytest

from tests import services

_stack = ExitStack()


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> Generator[None, None, None]:
    # A wrapper runs before pytest-django's own hook, which reads the settings.
    if not os.environ.get("DATABASE_URL"):
        pg = _stack.enter_context(services.postgres())
        pg.sql('CREATE DATABASE "modelhub"')
        os.environ["DATABASE_URL"] = pg.url("modelhub")
    if not os.environ.get("REDIS_URL"):
        redis = _stack.enter_context(services.redis_server())
        os.environ["REDIS_URL"] = redis.url(0)
    if not os.environ.get("MODELHUB_S3_BUCKET"):
        s3 = _stack.enter_context(services.s3_server())
        os.environ.update(s3.env(s3.create_bucket("modelhub-tests")))
    os.environ["MODELHUB_TEST_TOPOLOGY"] = "scaled"
    return (yield)


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"topology: scaled (DATABASE_URL={os.environ['DATABASE_URL']}, REDIS_URL={os.environ['REDIS_URL']}, "
        f"S3 {os.environ['MODELHUB_S3_ENDPOINT_URL']} bucket {os.environ['MODELHUB_S3_BUCKET']})"
    ]


def pytest_unconfigure(config: pytest.Config) -> None:
    _stack.close()
