"""Inference traffic stored per server process and summed for the operator console."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inference import traffic
from inference.metrics import TIME_BUCKETS_US
from inference.models import TrafficSample

pytestmark = pytest.mark.django_db


def test_percentile_interpolates_inside_the_bucket() -> None:
    buckets = [0] * len(TIME_BUCKETS_US)
    buckets[TIME_BUCKETS_US.index(1000)] = 100  # 100 requests between 562 and 1000 us
    assert traffic.percentile_us(buckets, 0.5) == pytest.approx(562 + (1000 - 562) * 0.5)
    assert traffic.percentile_us([0] * len(TIME_BUCKETS_US), 0.5) is None


def test_only_inferences_count_and_failures_are_requests_too() -> None:
    traffic._tallies.clear()
    counts = {
        ("KServe", "ModelInfer", True): 8,
        ("KServe", "ModelInfer", False): 2,
        ("KServe", "ModelReady", True): 50,
    }
    traffic.record("m", "3", counts, [500.0] * 8)
    assert traffic.write("proc-a") == 1
    row = TrafficSample.objects.get()
    assert (row.servable_name, row.version, row.requests, row.failures) == ("m", 3, 10, 2)
    assert sum(row.latency_buckets) == 8 and row.latency_sum_us == 4000
    assert traffic.write("proc-a") == 0  # nothing new, no row


def test_series_adds_up_every_process_and_replica() -> None:
    now = timezone.now()
    fast = _buckets(100, at_us=1000)
    slow = _buckets(100, at_us=100000)
    for process, buckets in (("host-a:1", fast), ("host-b:7", slow)):  # two replicas on two hosts
        TrafficSample.objects.create(
            process_id=process, servable_name="m", version=1, started_at=now - timedelta(seconds=50), seconds=10,
            requests=120, failures=6, latency_buckets=buckets, latency_sum_us=0,
        )  # fmt: skip
    series = traffic.traffic_series("m", now=now)
    point = series[1][-1]
    assert point.requests_per_second == pytest.approx(240 / 60)
    assert point.failures_per_second == pytest.approx(12 / 60)
    assert point.p50_ms is not None and point.p50_ms <= 1.0  # half the requests are fast
    assert point.p99_ms is not None and point.p99_ms > 50  # the slow replica shows in the tail
    assert len(series[1]) == 60


def test_old_rows_are_pruned() -> None:
    old = timezone.now() - timedelta(hours=2)
    TrafficSample.objects.create(process_id="p", servable_name="m", version=1, started_at=old, seconds=10)
    TrafficSample.objects.create(
        process_id="p", servable_name="m", version=1, started_at=timezone.now(), seconds=10
    )
    assert traffic.prune(keep_seconds=3600) == 1
    assert TrafficSample.objects.count() == 1


def _buckets(count: int, *, at_us: int) -> list[int]:
    buckets = [0] * len(TIME_BUCKETS_US)
    buckets[TIME_BUCKETS_US.index(at_us)] = count
    return buckets


def test_recent_rates_cover_the_last_two_write_periods_of_every_process(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TRAFFIC_SECONDS = 5
    now = timezone.now()
    for process in ("a", "b"):
        for age in (4, 9, 30):  # the row 30 s old is outside the last 10 s
            TrafficSample.objects.create(
                process_id=process, servable_name="m", version=2, started_at=now - timedelta(seconds=age + 5),
                seconds=5, requests=50, latency_buckets=_buckets(50, at_us=1000),
            )  # fmt: skip
    point = traffic.traffic_recent("m", now=now)[2]
    assert point.requests_per_second == pytest.approx(200 / 10)
    assert point.p50_ms is not None and 0.562 < point.p50_ms <= 1.0


def test_counts_survive_a_failed_write(monkeypatch: pytest.MonkeyPatch) -> None:
    traffic._tallies.clear()
    traffic.record("m", 1, {("KServe", "ModelInfer", True): 5}, [100.0] * 5)

    def database_away(*args: object, **kwargs: object) -> None:
        raise OSError("database unreachable")

    monkeypatch.setattr(TrafficSample.objects, "bulk_create", database_away)
    with pytest.raises(OSError):
        traffic.write("p")
    monkeypatch.undo()
    traffic.record("m", 1, {("KServe", "ModelInfer", True): 2}, [100.0] * 2)
    traffic.write("p")
    assert TrafficSample.objects.get().requests == 7


def test_counts_keyed_with_the_interface_too_are_read() -> None:
    traffic._tallies.clear()
    traffic.record(
        "m", 1, {("KServe", "ModelInfer", True, "gRPC"): 3, ("KServe", "ModelInfer", False, "REST"): 1}, []
    )
    traffic.write("p")
    row = TrafficSample.objects.get()
    assert (row.requests, row.failures) == (4, 1)
