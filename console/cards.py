"""What one servable's card shows: state per process, default version, RAM, and traffic charts."""

from typing import Any

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.safestring import mark_safe

from console.charts import line_chart
from console.selectors import history, servable_card
from inference.traffic import TrafficPoint

MIN_CHART_MINUTES = 10


def chart_span(traffic: dict[int, list[TrafficPoint]], *, minimum: int = MIN_CHART_MINUTES) -> int:
    """How many of the last points to draw: from the first with traffic (so a fresh server's minutes are not
    squeezed against the right edge of an empty hour), at least `minimum`."""
    longest = max((len(points) for points in traffic.values()), default=0)
    first = min(
        (
            i
            for points in traffic.values()
            for i, p in enumerate(points)
            if p.requests_per_second or p.failures_per_second
        ),
        default=longest,
    )
    return min(longest, max(longest - first, minimum))


def card_context(name: str) -> dict[str, Any]:
    card = servable_card(name)
    span = chart_span(card.traffic)
    per_version = [(f"v{version}", points[-span:]) for version, points in card.traffic.items()]
    charts: list[tuple[str, str]] = []
    if per_version:
        rps = [(label, [p.requests_per_second for p in points]) for label, points in per_version]
        fps = [(label, [p.failures_per_second for p in points]) for label, points in per_version]
        charts.append(("requests/s", line_chart(rps, title="requests/s", unit="/s")))
        charts.append(("failures/s", line_chart(fps, title="failures/s", unit="/s")))
        for label, points in per_version:
            title = f"latency of {label} (ms)"
            quantiles = [(q, [getattr(p, f"{q}_ms") for p in points]) for q in ("p50", "p95", "p99")]
            charts.append((title, line_chart(quantiles, title=title, unit=" ms")))
        if any(p.tokens_per_second for _, points in per_version for p in points):  # a generative model
            tps = [(label, [p.tokens_per_second for p in points]) for label, points in per_version]
            charts.append(("generated tokens/s", line_chart(tps, title="generated tokens/s", unit="/s")))
            for label, points in per_version:
                title = f"time to first token of {label} (ms)"
                quantiles = [
                    (q, [getattr(p, f"first_token_{q}_ms") for p in points]) for q in ("p50", "p95", "p99")
                ]
                charts.append((title, line_chart(quantiles, title=title, unit=" ms")))
    return {
        "card": card,
        "last_task": next(iter(history(name, limit=1)), None),
        # The SVG is built by console.charts, which escapes every text it writes.
        "charts": [(title, mark_safe(svg)) for title, svg in charts],
        "chart_minutes": span,
        "latest": [{"version": version, "point": card.recent.get(version)} for version in card.traffic],
        # While a canary or shadow runs: both versions side by side, with their weights.
        "side_by_side": [
            {"role": role, "version": version, "weight": weight, "point": card.recent.get(version)}
            for role, version, weight in (
                ("stable", card.progressive.stable, card.progressive.stable_weight),
                (card.progressive.mode, card.progressive.candidate, card.progressive.weight),
            )
        ]
        if card.progressive
        else [],
        "ram": [
            (process, filesizeformat(amount)) for process, amount in sorted(card.ram_per_process.items())
        ],
        "updated": timezone.now(),
        "recent_seconds": f"{max(2 * settings.TRAFFIC_SECONDS, 10.0):g}",
    }
