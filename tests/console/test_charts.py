"""The SVG line charts of the serving overview."""

import xml.etree.ElementTree as ET

from console.charts import format_value, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_one_polyline_per_series_and_the_latest_value_in_the_legend() -> None:
    svg = line_chart([("v1", [1.0, 2.0, 4.0]), ("v2", [0.0, 0.0, 2.0])], title="requests/s", unit="/s")
    root = ET.fromstring(svg)
    assert len(root.findall(f"{SVG}polyline")) == 2
    legends = [t.text for t in root.findall(f"{SVG}text") if t.get("class") == "console-legend"]
    assert legends == ["v1: 4/s", "v2: 2/s"]


def test_gaps_split_the_line_and_the_top_value_reaches_the_top() -> None:
    svg = line_chart([("p99", [1.0, None, None, 3.0, 3.0])], title="latency", width=100, height=50)
    root = ET.fromstring(svg)
    polylines = root.findall(f"{SVG}polyline")
    circles = root.findall(f"{SVG}circle")
    assert len(polylines) == 1 and len(circles) == 1  # [1.0] alone, then [3.0, 3.0]
    ys = [float(pair.split(",")[1]) for pair in polylines[0].get("points").split()]
    assert ys == [16.0, 16.0]  # pad_top: the maximum is drawn at the top of the plot


def test_empty_series_and_markup_in_labels_are_safe() -> None:
    root = ET.fromstring(line_chart([("<b>", [None, None])], title="a & b"))
    assert root.find(f"{SVG}title").text == "a & b"
    assert format_value(0) == "0" and format_value(1234.5) == "1234" and format_value(0.125) == "0.12"


def test_charts_start_at_the_first_minute_with_traffic_and_show_at_least_ten() -> None:
    from datetime import UTC, datetime

    from console.cards import chart_span
    from inference.traffic import TrafficPoint

    def points(values: list[float]) -> list[TrafficPoint]:
        return [TrafficPoint(datetime.now(UTC), v, 0.0, None, None, None) for v in values]

    assert chart_span({1: points([0.0] * 58 + [5.0, 6.0])}) == 10
    assert chart_span({1: points([0.0] * 30 + [5.0] * 30), 2: points([0.0] * 45 + [1.0] * 15)}) == 30
    assert chart_span({1: points([1.0] * 60)}) == 60
    assert chart_span({}) == 0
