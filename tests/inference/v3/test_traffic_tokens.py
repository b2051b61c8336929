"""Generated tokens and time to first token reach the console's traffic series, summed over processes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inference import traffic
from inference.models import TrafficSample

pytestmark = pytest.mark.django_db


def test_tokens_and_first_token_times_are_stored_and_summed() -> None:
    traffic._tallies.clear()
    counts = {("V3", "ChatCompletions", True): 3, ("V3", "ChatCompletions", False): 1}
    traffic.record("llm", "1", counts, [40_000.0] * 3, tokens=300, first_token_us=[5_000.0, 6_000.0, 7_000.0])
    assert traffic.write("proc-a") == 1
    row = TrafficSample.objects.get()
    assert (row.requests, row.failures, row.generated_tokens) == (4, 1, 300)
    assert sum(row.first_token_buckets) == 3
    # a second process, ending in the same minute
    TrafficSample.objects.create(
        process_id="proc-b", servable_name="llm", version=1, started_at=row.started_at, seconds=row.seconds,
        requests=1, generated_tokens=60, first_token_buckets=row.first_token_buckets,
    )  # fmt: skip
    point = traffic.traffic_series("llm", now=timezone.now() + timedelta(seconds=1))[1][-1]
    assert point.tokens_per_second == pytest.approx(360 / 60)
    assert point.first_token_p50_ms is not None and 3.0 < point.first_token_p50_ms <= 10.0


def test_tensor_traffic_has_no_tokens() -> None:
    traffic._tallies.clear()
    traffic.record("m", "1", {("KServe", "ModelInfer", True): 2}, [100.0, 100.0])
    traffic.write("proc-a")
    row = TrafficSample.objects.get()
    assert row.generated_tokens == 0 and row.first_token_buckets == []
