"""Financial years as English public funding counts them: 1 April to 31 March, London time.

``2026-27`` runs from 1 April 2026 to 31 March 2027. An instant belongs to the year of
its London calendar date (a session at 00:30 BST on 1 April is in the new year, though
it is still 31 March in UTC).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
_PATTERN = re.compile(r"^(\d{4})-(\d{2})$")
#: The years the API takes (a typo like 2206-07 is refused rather than booked).
FIRST_YEAR = 2000
LAST_YEAR = 2098


def london_date(when: datetime) -> date:
    if when.tzinfo is None:
        raise ValueError("naive datetime: give an aware one")
    return when.astimezone(LONDON).date()


def financial_year_of(day: date) -> str:
    start = day.year if day.month >= 4 else day.year - 1
    return f"{start}-{(start + 1) % 100:02d}"


def financial_year_at(when: datetime) -> str:
    return financial_year_of(london_date(when))


def is_financial_year(text: str) -> bool:
    """``YYYY-YY`` with consecutive years, within the years the API takes."""
    match = _PATTERN.match(text)
    if not match:
        return False
    start, end = int(match.group(1)), int(match.group(2))
    return FIRST_YEAR <= start <= LAST_YEAR and end == (start + 1) % 100


def bounds(financial_year: str) -> tuple[date, date]:
    """First and last day of a financial year."""
    start = int(financial_year[:4])
    return date(start, 4, 1), date(start + 1, 3, 31)


def months(financial_year: str) -> list[str]:
    """``YYYY-MM`` of its twelve months, April first."""
    start = int(financial_year[:4])
    return [f"{start}-{m:02d}" for m in range(4, 13)] + [f"{start + 1}-{m:02d}" for m in (1, 2, 3)]


def within(day: date, financial_year: str) -> date:
    """``day`` clamped into the year: a correction made after the year closed is booked on
    its last day, so every movement of an account falls in one of its twelve months."""
    first, last = bounds(financial_year)
    return min(max(day, first), last)


def month_of(day: date) -> str:
    return f"{day.year}-{day.month:02d}"
