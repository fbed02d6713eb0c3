"""The budget's burn chart as an inline SVG, drawn on the server (no JavaScript).

A pure function of the figures, so it is unit-tested without a browser: the money used
(committed plus spent, cumulative, month by month from April) against the allocation.
The chart is one ``role="img"`` with a ``<title>`` and ``<desc>`` that say what it shows
in words; the page puts the same figures in a table beside it. The two series differ by
more than colour: the allocation is a dashed line, the money used a solid line with
square markers, and the legend repeats both shapes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from gateway.web.formatting import pounds

#: GOV.UK colours with at least 3:1 contrast on white (WCAG 1.4.11, non-text contrast).
USED_COLOUR = "#1d70b8"  # GOV.UK blue, 5.2:1
ALLOCATION_COLOUR = "#0b0c0c"  # GOV.UK black
GRID_COLOUR = "#b1b4b6"
TEXT_COLOUR = "#0b0c0c"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
FULL_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

WIDTH, HEIGHT = 600, 340
LEFT, RIGHT, TOP, BOTTOM = 66, 8, 48, 40


@dataclass(frozen=True)
class BurnPoint:
    """One month: ``used`` is the cumulative committed + spent (pence) at its end, None for
    a month still to come (nothing is drawn for it)."""

    month: str  # YYYY-MM
    used: int | None

    @property
    def short(self) -> str:
        return MONTHS[int(self.month[5:7]) - 1]

    @property
    def label(self) -> str:
        return f"{FULL_MONTHS[int(self.month[5:7]) - 1]} {self.month[:4]}"


def burn_points(
    by_month: Iterable[Mapping[str, Any]], through: str | None = None
) -> list[BurnPoint]:
    """Cumulative committed + spent from the summary's ``by_month`` (net changes per month),
    April first; months after ``through`` (YYYY-MM, e.g. the current month) are None."""
    out: list[BurnPoint] = []
    running = 0
    for row in sorted(by_month, key=lambda r: str(r["month"])):
        month = str(row["month"])
        running += int(row.get("committed") or 0) + int(row.get("spent") or 0)
        out.append(BurnPoint(month, None if through and month > through else running))
    return out


def _nice_step(top: int) -> int:
    """A round axis step (in pence) giving four or five gridlines up to ``top``."""
    raw = max(top, 100) / 4
    magnitude = 10 ** (len(str(int(raw))) - 1)
    for factor in (1, 2, 2.5, 5, 10):
        step = int(factor * magnitude)
        if step >= raw:
            return max(step, 100)
    return int(10 * magnitude)


def burn_chart_svg(
    points: list[BurnPoint], allocation: int, *, title: str, chart_id: str = "burn"
) -> str:
    """The chart as an SVG string (escape-safe: every text is escaped here)."""
    drawn = [p for p in points if p.used is not None]
    highest = max([allocation, *(p.used or 0 for p in drawn), 0])
    step = _nice_step(highest)
    top = step * max(1, -(-highest // step)) if highest else step * 4
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slots = max(len(points), 1)

    def x(i: int) -> float:
        return round(LEFT + plot_w * (i + 0.5) / slots, 1)

    def y(value: int) -> float:
        return round(TOP + plot_h - plot_h * max(value, 0) / top, 1)

    last = drawn[-1] if drawn else None
    desc = f"Allocation {pounds(allocation)}. " + (
        f"Committed and spent by the end of {last.label}: {pounds(last.used or 0)}"
        f" ({_percent(last.used or 0, allocation)} of the allocation)."
        if last
        else "Nothing committed or spent yet."
    )
    tid, did = f"{chart_id}-title", f"{chart_id}-desc"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="budget-chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" aria-labelledby="{tid} {did}" '
        f'font-family="GDS Transport, arial, sans-serif" font-size="18">',
        f'<title id="{tid}">{escape(title)}</title>',
        f'<desc id="{did}">{escape(desc)}</desc>',
    ]
    # gridlines and the money axis
    value = 0
    while value <= top:
        gy = y(value)
        parts.append(
            f'<line x1="{LEFT}" y1="{gy}" x2="{WIDTH - RIGHT}" y2="{gy}" '
            f'stroke="{GRID_COLOUR}" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{LEFT - 8}" y="{gy + 5}" text-anchor="end" fill="{TEXT_COLOUR}">'
            f"{escape(_axis(value))}</text>"
        )
        value += step
    # the month axis
    for i, p in enumerate(points):
        parts.append(
            f'<text x="{x(i)}" y="{HEIGHT - BOTTOM + 26}" text-anchor="middle" '
            f'fill="{TEXT_COLOUR}">{escape(p.short)}</text>'
        )
    # the allocation: a dashed line across the year
    ay = y(allocation)
    parts.append(
        f'<line x1="{LEFT}" y1="{ay}" x2="{WIDTH - RIGHT}" y2="{ay}" '
        f'stroke="{ALLOCATION_COLOUR}" stroke-width="3" stroke-dasharray="10 6"/>'
    )
    # the money used: a solid line with square markers
    if drawn:
        coords = " ".join(
            f"{x(i)},{y(p.used or 0)}" for i, p in enumerate(points) if p.used is not None
        )
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{USED_COLOUR}" '
            f'stroke-width="3" stroke-linejoin="round"/>'
        )
        for i, p in enumerate(points):
            if p.used is not None:
                parts.append(
                    f'<rect x="{x(i) - 5}" y="{y(p.used) - 5}" width="10" height="10" '
                    f'fill="{USED_COLOUR}"/>'
                )
    # the legend, its shapes the same as the lines'
    parts += [
        f'<line x1="{LEFT}" y1="18" x2="{LEFT + 36}" y2="18" stroke="{ALLOCATION_COLOUR}" '
        f'stroke-width="3" stroke-dasharray="10 6"/>',
        f'<text x="{LEFT + 44}" y="24" fill="{TEXT_COLOUR}">Allocation</text>',
        f'<line x1="{LEFT + 150}" y1="18" x2="{LEFT + 186}" y2="18" stroke="{USED_COLOUR}" '
        f'stroke-width="3"/>',
        f'<rect x="{LEFT + 163}" y="13" width="10" height="10" fill="{USED_COLOUR}"/>',
        f'<text x="{LEFT + 194}" y="24" fill="{TEXT_COLOUR}">Committed and spent</text>',
        "</svg>",
    ]
    return "".join(parts)


def _axis(pence: int) -> str:
    """Axis labels kept short: £12k, £1.5m, £250."""
    whole = pence // 100
    if whole >= 1_000_000:
        return f"£{whole / 1_000_000:g}m"
    if whole >= 1_000:
        return f"£{whole / 1_000:g}k"
    return f"£{whole}"


def _percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "no share"
