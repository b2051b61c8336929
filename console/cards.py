"""What one servable's card shows: state per process, default version, RAM, and traffic charts."""

from typing import Any

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.safestring import mark_safe

from console.charts import line_chart
from console.selectors import servable_card


def card_context(name: str) -> dict[str, Any]:
    card = servable_card(name)
    traffic = card.traffic
    labels = [f"v{version}" for version in traffic]
    per_version = list(zip(labels, traffic.values(), strict=True))
    charts: list[tuple[str, str]] = []
    if traffic:
        charts.append(
            (
                "requests/s",
                line_chart(
                    [(label, [p.requests_per_second for p in points]) for label, points in per_version],
                    title="requests/s",
                    unit="/s",
                ),
            )
        )
        charts.append(
            (
                "failures/s",
                line_chart(
                    [(label, [p.failures_per_second for p in points]) for label, points in per_version],
                    title="failures/s",
                    unit="/s",
                ),
            )
        )
        for label, points in per_version:
            title = f"latency of {label} (ms)"
            charts.append(
                (
                    title,
                    line_chart(
                        [(q, [getattr(p, f"{q}_ms") for p in points]) for q in ("p50", "p95", "p99")],
                        title=title,
                        unit=" ms",
                    ),
                )
            )
    latest = [{"version": version, "point": card.recent.get(version)} for version in traffic]
    return {
        "card": card,
        # The SVG is built by console.charts, which escapes every text it writes.
        "charts": [(title, mark_safe(svg)) for title, svg in charts],
        "latest": latest,
        "ram": [
            (process, filesizeformat(amount)) for process, amount in sorted(card.ram_per_process.items())
        ],
        "updated": timezone.now(),
        "recent_seconds": f"{max(2 * settings.TRAFFIC_SECONDS, 10.0):g}",
    }
