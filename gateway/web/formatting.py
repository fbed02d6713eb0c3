"""Words and formats the pages show: labels for the API's codes, London times, money."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")

#: The catalogue's kinds and formats (services/catalogue/models.py KINDS, FORMATS;
#: tests/web checks these cover them).
KINDS = {
    "webinar": "Webinar",
    "training": "Training",
    "moderation": "Moderation",
    "network_meeting": "Network meeting",
}
FORMATS = {"online": "Online", "in_person": "In person", "hybrid": "Hybrid"}
#: Labels for shared.vocabulary's SETTING_TYPES and TOPICS (tests/web checks they match).
SETTING_LABELS = {
    "childminder": "Childminder",
    "nursery": "Nursery",
    "preschool": "Pre-school",
    "school": "School (nursery or reception class)",
    "childrens_centre": "Children's centre or family hub",
    "health_visiting": "Health visiting",
    "other": "Other",
}
TOPIC_LABELS = {
    "communication_language": "Communication and language",
    "psed": "Personal, social and emotional development",
    "physical": "Physical development",
    "literacy": "Literacy",
    "mathematics": "Mathematics",
    "understanding_world": "Understanding the world",
    "expressive_arts": "Expressive arts and design",
    "send": "Special educational needs and disabilities (SEND)",
    "early_reading": "Early reading",
    "leadership": "Leadership",
    "safeguarding": "Safeguarding",
    "moderation": "Moderation",
    "childminding_practice": "Childminding practice",
}

#: Booking statuses (services/bookings/models.py) as words, with a GOV.UK tag colour.
STATUSES = {
    "confirmed": ("Booked", "govuk-tag--green"),
    "waitlisted": ("On the waiting list", "govuk-tag--yellow"),
    "offered": ("Place offered", "govuk-tag--light-blue"),
    "pending_payment": ("Waiting for payment", "govuk-tag--orange"),
    "pending_funding": ("Funded place requested", "govuk-tag--orange"),
    "attended": ("Attended", "govuk-tag--blue"),
    "no_show": ("Did not attend", "govuk-tag--grey"),
    "cancelled": ("Cancelled", "govuk-tag--grey"),
    "funding_declined": ("Funding declined", "govuk-tag--red"),
}


def label(mapping: dict[str, Any], code: str | None) -> str:
    if not code:
        return ""
    value = mapping.get(code)
    if isinstance(value, tuple):
        return str(value[0])
    return str(value) if value else code.replace("_", " ").capitalize()


def parse_utc(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _clock(moment: datetime) -> str:
    """4pm, 10:30am, midday (GOV.UK style)."""
    if moment.hour == 12 and moment.minute == 0:
        return "midday"
    hour = moment.hour % 12 or 12
    suffix = "am" if moment.hour < 12 else "pm"
    return f"{hour}{suffix}" if moment.minute == 0 else f"{hour}:{moment.minute:02d}{suffix}"


def london_day(value: str | datetime | None) -> str:
    moment = parse_utc(value) if isinstance(value, str) else value
    if moment is None:
        return ""
    local = moment.astimezone(LONDON)
    return f"{local:%A} {local.day} {local:%B %Y}"


def london_when(starts: str | None, ends: str | None = None) -> str:
    """'Wednesday 2 December 2026, 4pm to 5:30pm' in London time."""
    start = parse_utc(starts)
    if start is None:
        return ""
    local = start.astimezone(LONDON)
    text = f"{london_day(start)}, {_clock(local)}"
    end = parse_utc(ends)
    if end is not None:
        local_end = end.astimezone(LONDON)
        if local_end.date() == local.date():
            text += f" to {_clock(local_end)}"
        else:
            text += f" to {london_day(end)}, {_clock(local_end)}"
    return text


def money(pence: int | None) -> str:
    """A price: nothing to pay is "Free"."""
    return pounds(pence) if pence else "Free"


def pounds(pence: int | None) -> str:
    """An amount of money: £0, £1,234.56, -£5 (budgets and charts; prices say ``money``)."""
    sign = "-" if (pence or 0) < 0 else ""
    whole, rest = divmod(abs(int(pence or 0)), 100)
    return f"{sign}£{whole:,}" if rest == 0 else f"{sign}£{whole:,}.{rest:02d}"


def hours(value: float | None) -> str:
    if value is None:
        return ""
    text = f"{value:g}"
    return f"{text} hour" if text == "1" else f"{text} hours"


def api_utc(moment: datetime) -> str:
    """A timezone-aware moment as the API's UTC form: 2026-12-02T16:00:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_utc() -> str:
    """Now, as the API's UTC form (compares as text with the API's times)."""
    return api_utc(datetime.now(UTC))


def today_london() -> date:
    return datetime.now(UTC).astimezone(LONDON).date()


def next_day(day: date) -> date:
    return day + timedelta(days=1)


def financial_year_of(day: date, separator: str = "-") -> str:
    """The UK financial year (April to March) a day falls in: 2026-27 as the budget API
    names it, or 2026/27 (``separator="/"``) beside the academic years of the CPD record."""
    start = day.year if day.month >= 4 else day.year - 1
    return f"{start}{separator}{(start + 1) % 100:02d}"


def webcal(url: str) -> str:
    """A calendar feed's https:// address as the webcal:// link calendar apps subscribe to."""
    return re.sub(r"^https?://", "webcal://", url)


FILTERS = {
    "when": london_when,
    "day": london_day,
    "money": money,
    "pounds": pounds,
    "webcal": webcal,
    "hours": hours,
    "kind": lambda c: label(KINDS, c),
    "format_label": lambda c: label(FORMATS, c),
    "setting": lambda c: label(SETTING_LABELS, c),
    "topic": lambda c: label(TOPIC_LABELS, c),
    "status": lambda c: label(STATUSES, c),
    "status_class": lambda c: STATUSES.get(c or "", ("", "govuk-tag--grey"))[1],
}
