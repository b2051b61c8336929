"""Small line charts as inline SVG, drawn on the server (no chart library, nothing fetched by the browser)."""

from collections.abc import Sequence
from html import escape

PALETTE = ("#2f6fb0", "#d9822b", "#2a9d5c", "#b03a5b", "#7a5cc0", "#8a8a8a")


def format_value(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value else "0"


def line_chart(
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str,
    unit: str = "",
    width: int = 300,
    height: int = 110,
) -> str:
    """An SVG with one polyline per (label, values) series; None values are gaps. The y axis starts at 0 and
    ends at the largest value (written above the plot); the latest value of each series is in the legend below."""
    pad_left, pad_right, pad_top, pad_bottom = 4, 4, 16, 18
    plot_w = width - pad_left - pad_right
    plot_h = height - pad_top - pad_bottom
    values = [v for _, points in series for v in points if v is not None]
    top = max(values, default=0.0) or 1.0
    longest = max((len(points) for _, points in series), default=0)
    step = plot_w / max(longest - 1, 1)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" class="console-svg">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{pad_left}" y="{pad_top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#ccc" stroke-width="0.5"/>',
        f'<text x="{width - pad_right}" y="11" font-size="10" text-anchor="end" fill="#777">max {escape(format_value(top))}{escape(unit)}</text>',
    ]
    legend_x = pad_left
    for index, (label, points) in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        for run in _runs(points):
            coords = " ".join(
                f"{pad_left + i * step:.1f},{pad_top + plot_h - (value / top) * plot_h:.1f}"
                for i, value in run
            )
            if len(run) == 1:
                x, y = coords.split(",")
                parts.append(f'<circle cx="{x}" cy="{y}" r="1.5" fill="{color}"/>')
            else:
                parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{coords}"/>')
        latest = next((v for v in reversed(points) if v is not None), None)
        text = f"{label}: {format_value(latest)}{unit}" if latest is not None else f"{label}: -"
        parts.append(
            f'<text x="{legend_x}" y="11" font-size="9" fill="{color}" class="console-legend">{escape(text)}</text>'
        )
        legend_x += 6 * len(text) + 8
    parts.append("</svg>")
    return "".join(parts)


def _runs(points: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """Consecutive non-None stretches, with their indexes."""
    runs: list[list[tuple[int, float]]] = []
    current: list[tuple[int, float]] = []
    for index, value in enumerate(points):
        if value is None:
            if current:
                runs.append(current)
                current = []
        else:
            current.append((index, value))
    if current:
        runs.append(current)
    return runs
