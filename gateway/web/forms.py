"""What the pages' forms accept: UK times, dates, pounds.

Pure functions of the text typed (tests/unit/test_web_forms.py): each gives the value, or
None when the text is not one, and the page says so on the field.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation

from gateway.web.formatting import LONDON, api_utc, parse_utc

_TIME = re.compile(r"^\s*(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm)?\s*$", re.IGNORECASE)
#: Whole pounds with commas only between thousands ("1,234.50"), or none ("1234.5"): a
#: comma typed as a decimal point ("12,50") is refused, never read as £1,250.
_MONEY = re.compile(r"^(\d{1,3}(,\d{3}){1,2}|\d{1,9})(\.\d{1,2})?$")
_WHOLE = re.compile(r"^[0-9]{1,9}$")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_time(raw: str | None) -> time | None:
    """'18:30', '6:30pm', '6pm', '9.15', '12am' → a time of day; None if it is not one.
    An hour alone ('18') is refused as ambiguous: the page asks for 18:00."""
    m = _TIME.match(raw or "")
    if not m:
        return None
    hour, minute, half = int(m.group(1)), int(m.group(2) or 0), (m.group(3) or "").lower()
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "pm" else 0)
    elif m.group(2) is None:
        return None
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def parse_date(day: str, month: str, year: str) -> date | None:
    """A GOV.UK date input's three boxes (digits only, a four-digit year) → a real date."""
    parts = [(p or "").strip() for p in (day, month, year)]
    if not all(p.isdigit() for p in parts) or len(parts[2]) != 4:
        return None
    try:
        return date(int(parts[2]), int(parts[1]), int(parts[0]))
    except ValueError:
        return None


def parse_iso_date(raw: str | None) -> date | None:
    """A browser date field's YYYY-MM-DD → a real date (not 2027-02-30); None otherwise."""
    text = raw or ""
    if not _ISO_DAY.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def date_range(
    raw_from: str, raw_to: str, errors: list[dict[str, str]]
) -> tuple[date | None, date | None]:
    """A filter's optional "from" and "to" date fields (YYYY-MM-DD); adds an error to each
    that is not a real date, and to "to" when it is before "from"."""
    days: list[date | None] = []
    for raw, field, name in ((raw_from, "from", "Date from"), (raw_to, "to", "Date to")):
        day = parse_iso_date(raw)
        if raw and day is None:
            errors.append({"field": field, "text": f"{name} must be a real date"})
        days.append(day)
    start, end = days
    if start and end and end < start:
        errors.append({"field": "to", "text": "Date to must be the same as or after date from"})
    return start, end


def parse_pounds(raw: str | None) -> int | None:
    """'£1,234.50' → 123450 pence; None when it is not an amount of money (or empty)."""
    text = (raw or "").strip().removeprefix("£").strip()
    if not _MONEY.match(text):
        return None
    try:
        return int(Decimal(text.replace(",", "")) * 100)
    except InvalidOperation:
        return None


def parse_whole(raw: str | None) -> int | None:
    """A whole number typed in ASCII digits ("²" or "١٢" are digits to str.isdigit, not
    to int); None otherwise."""
    text = (raw or "").strip()
    return int(text) if _WHOLE.match(text) else None


def london_time(day: date, clock: time = time(0, 0)) -> datetime:
    """A London wall-clock moment (GMT or BST as that day has it), timezone-aware. In the
    hour the clocks go back a time happens twice: this is the first (still BST)."""
    return datetime.combine(day, clock, tzinfo=LONDON)


def skipped_in_london(day: date, clock: time) -> str | None:
    """Why a typed time does not exist (the hour the clocks go forward skips, e.g. 1:30am
    on the last Sunday of March), as a form error; None for a real time."""
    back = london_time(day, clock).astimezone(UTC).astimezone(LONDON)
    if (back.date(), back.time()) == (day, clock):
        return None
    return (
        f"There is no {clock:%H:%M} on {day.day} {day:%B %Y} in the UK: the clocks go "
        "forward an hour. Choose another time"
    )


def london_wall(value: str | None) -> tuple[date, time] | None:
    """The London date and time (to the minute) of an API UTC moment: what a form shows."""
    moment = parse_utc(value)
    if moment is None:
        return None
    local = moment.astimezone(LONDON)
    return local.date(), local.time().replace(second=0, microsecond=0, tzinfo=None)


def london_utc(day: date, clock: time = time(0, 0)) -> str:
    """A London wall-clock moment as the API's UTC form (midnight if no time is given)."""
    return api_utc(london_time(day, clock))
