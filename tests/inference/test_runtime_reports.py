"""inference/runtime.py: what a serving process reports about its versions reaches the database even when
the report comes before the process's first heartbeat (the restart race that logged
`Could not report magika:1 ... FOREIGN KEY constraint failed`)."""

import logging
import threading

import pytest

from inference.models import ServingProcess, VersionReport, VersionState
from inference.runtime import LoadedVersion, Runtime


@pytest.mark.django_db(transaction=True)  # the foreign key is checked at commit (SQLite: deferred)
def test_a_report_before_the_first_heartbeat_registers_the_process(caplog: pytest.LogCaptureFixture) -> None:
    runtime = Runtime()
    # As a started server process: it reports (its reconciler/heartbeat threads are not needed to call _report).
    runtime._threads = [threading.current_thread()]
    caplog.set_level(logging.ERROR, logger="inference.runtime")
    runtime._report(LoadedVersion("magika", 1, VersionState.AVAILABLE))
    assert "Could not report" not in caplog.text
    assert ServingProcess.objects.filter(pk=runtime.process_id).exists()
    report = VersionReport.objects.get(process_id=runtime.process_id, servable_name="magika", version=1)
    assert report.state == VersionState.AVAILABLE


@pytest.mark.django_db(transaction=True)
def test_a_stopping_process_reports_nothing(caplog: pytest.LogCaptureFixture) -> None:
    runtime = Runtime()
    runtime._threads = [threading.current_thread()]
    runtime._stop.set()  # its process row is being removed: a late report would fail its foreign key
    runtime._report(LoadedVersion("magika", 1, VersionState.AVAILABLE))
    assert not VersionReport.objects.exists() and "Could not report" not in caplog.text
