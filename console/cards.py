"""What one servable's card shows: state per process, default version, RAM, and traffic charts."""

from typing import Any

from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.safestring import mark_safe

from console.charts import line_chart
from console.selectors import servable_card


def card_context(name: str) -> dict[str, Any]:
    card = servable_card(name)
    traffic = card.traffic
    labels = [f"v{version}" for version in traffic]
    charts = []
    if traffic:
        charts.append(
            line_chart(
                [
                    (label, [p.requests_per_second for p in points])
                    for label, points in zip(labels, traffic.values(), strict=True)
                ],
                title="requests/s",
                unit="/s",
            )
        )
        charts.append(
            line_chart(
                [
                    (label, [p.failures_per_second for p in points])
                    for label, points in zip(labels, traffic.values(), strict=True)
                ],
                title="failures/s",
                unit="/s",
            )
        )
        for label, points in zip(labels, traffic.values(), strict=True):
            charts.append(
                line_chart(
                    [(q, [getattr(p, f"{q}_ms") for p in points]) for q in ("p50", "p95", "p99")],
                    title=f"latency of {label} (ms)",
                    unit=" ms",
                )
            )
    latest = []
    for version, points in traffic.items():
        recent = next((p for p in reversed(points) if p.requests_per_second or p.failures_per_second), None)
        latest.append({"version": version, "point": recent})
    return {
        "card": card,
        "charts": [mark_safe(chart) for chart in charts],  # noqa: S308 - built by console.charts with escaping
        "chart_titles": ["requests/s", "failures/s", *[f"latency of {label} (ms)" for label in labels]],
        "latest": latest,
        "ram": [
            (process, filesizeformat(amount)) for process, amount in sorted(card.ram_per_process.items())
        ],
        "updated": timezone.now(),
    }
