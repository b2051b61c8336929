"""A server process that reads a switch after its instant (too busy, as under heavy LLM load) serves the old
version until it does: the runner waits for it (bounded), records `all_switched_at` and drains from then."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from deployments import runner
from inference.models import ServingGeneration, ServingProcess


class Run:
    """The runner's TaskRun as _late_switch uses it: metadata, and beat() while it waits. The process reads the
    switch on the `catch_up_at`-th beat (never if None)."""

    def __init__(self, process: ServingProcess, catch_up_at: int | None) -> None:
        self.metadata: dict[str, Any] = {}
        self.process = process
        self.catch_up_at = catch_up_at
        self.beats = 0

    def beat(self, *, cancellable: bool = True) -> None:
        self.beats += 1
        if self.beats == self.catch_up_at:
            ServingProcess.objects.filter(pk=self.process.pk).update(
                generation_seen=ServingGeneration.current()
            )


@pytest.fixture
def late_process(db) -> ServingProcess:
    ServingGeneration.bump()
    now = timezone.now()
    return ServingProcess.objects.create(
        pk="h:1:1", host="h", pid=1, started_at=now, last_seen=now, generation_seen=0
    )


def test_the_switch_records_when_the_late_process_switched(late_process: ServingProcess) -> None:
    switch_at = timezone.now() - timedelta(seconds=1)
    run = Run(late_process, catch_up_at=3)
    detail, everywhere = runner._late_switch(run, switch_at)  # type: ignore[arg-type]
    assert run.beats == 3
    assert everywhere > switch_at
    assert run.metadata["all_switched_at"] == everywhere.isoformat().replace("+00:00", "Z")
    assert "learned of it late: all had switched at" in detail


def test_a_process_that_never_reads_the_switch_is_waited_for_a_bounded_time(
    late_process: ServingProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "LATE_SWITCH_WAIT_SECONDS", 0.3)
    switch_at = timezone.now()
    run = Run(late_process, catch_up_at=None)
    detail, everywhere = runner._late_switch(run, switch_at)  # type: ignore[arg-type]
    assert "all_switched_at" not in run.metadata
    assert "had not learned of it 0.3 s later" in detail
    assert everywhere >= switch_at + timedelta(seconds=0.3)
