"""The budget's burn chart (gateway/web/charts.py): figures in, accessible SVG out."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from gateway.web.charts import BurnPoint, burn_chart_svg, burn_points

NS = {"svg": "http://www.w3.org/2000/svg"}


def _months(year: int = 2026) -> list[dict[str, int | str]]:
    months = [f"{year}-{m:02d}" for m in range(4, 13)] + [f"{year + 1}-{m:02d}" for m in (1, 2, 3)]
    return [{"month": m, "committed": 0, "spent": 0, "income": 0, "refunds": 0} for m in months]


def test_points_are_cumulative_committed_plus_spent_april_first() -> None:
    rows = _months()
    rows[0].update(spent=10_000)  # April
    rows[1].update(committed=5_000)  # May: a commitment...
    rows[2].update(committed=-5_000, spent=4_000)  # June: ...posted for less
    points = burn_points(reversed(rows), through="2026-06")
    assert [p.month for p in points][:3] == ["2026-04", "2026-05", "2026-06"]
    assert [p.used for p in points[:3]] == [10_000, 15_000, 14_000]
    assert all(p.used is None for p in points[3:])  # months to come are not drawn
    assert points[0].label == "April 2026" and points[-1].short == "Mar"


def test_svg_is_an_image_with_title_desc_and_both_series() -> None:
    points = [
        BurnPoint("2026-04", 30_000),
        BurnPoint("2026-05", 60_000),
        BurnPoint("2026-06", None),
    ]
    svg = burn_chart_svg(points, 100_000, title="Budget <2026-27>", chart_id="c1")
    root = ET.fromstring(svg)  # well-formed, the title escaped
    assert root.get("role") == "img" and root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.find("svg:title", NS).text == "Budget <2026-27>"
    desc = root.find("svg:desc", NS).text
    assert "Allocation £1,000" in desc and "end of May 2026: £600 (60% of the allocation)" in desc
    # the allocation dashed, the money used solid with a square per drawn month (not colour alone)
    dashed = [e for e in root.iter("{http://www.w3.org/2000/svg}line") if e.get("stroke-dasharray")]
    assert len(dashed) == 2  # the line and its legend sample
    line = root.find("svg:polyline", NS)
    assert len(line.get("points").split()) == 2
    markers = [r for r in root.iter("{http://www.w3.org/2000/svg}rect")]
    assert len(markers) == 3  # two months and the legend
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert {"Apr", "May", "Jun", "Allocation", "Committed and spent", "£0"} <= set(texts)


def test_empty_year_and_overspend_stay_inside_the_chart() -> None:
    empty = ET.fromstring(burn_chart_svg(burn_points(_months(), "2026-03"), 0, title="t"))
    assert "Nothing committed or spent yet." in empty.find("svg:desc", NS).text
    over = burn_chart_svg([BurnPoint("2026-04", 250_000)], 100_000, title="t")
    ys = [float(r.get("y")) for r in ET.fromstring(over).iter("{http://www.w3.org/2000/svg}rect")]
    assert min(ys) >= 0
