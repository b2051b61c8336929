from collections.abc import Iterator

import pytest
from django_q.conf import Conf

from tests.fakes.geti import FakeGeti


@pytest.fixture(scope="session")
def geti_server() -> Iterator[FakeGeti]:
    with FakeGeti() as server:
        yield server


@pytest.fixture
def fake_geti(geti_server: FakeGeti, settings) -> Iterator[FakeGeti]:  # type: ignore[no-untyped-def]
    """The fake Geti, reset, with modelhub's settings pointing at it (short backoff so retries are quick)."""
    geti_server.reset()
    for name, value in geti_server.env().items():
        setattr(settings, name, value)
    settings.GETI_VERIFY_SSL = False
    settings.GETI_RETRY_BACKOFF_SECONDS = 0.01
    settings.GETI_TIMEOUT_SECONDS = 5.0
    settings.GETI_EXPORT_DEADLINE_SECONDS = 10.0
    yield geti_server
    geti_server.reset()


@pytest.fixture
def inline_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    """django-q2's sync mode: an enqueued task runs at once in this process (no cluster needed)."""
    monkeypatch.setattr(Conf, "SYNC", True)
