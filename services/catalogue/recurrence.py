"""Session series from an RRULE that keep their Europe/London wall-clock time across DST.

The rule is expanded over *naive local* times (dateutil.rrule) and each occurrence is
then localised with zoneinfo: a weekly 18:00 meeting is 18:00 BST in April and 18:00
GMT in March, i.e. 17:00Z and 18:00Z. Expanding over UTC instants would drift by an
hour at each change. Only bounded, simple rules are accepted (DAILY, WEEKLY, MONTHLY
with COUNT or UNTIL, at most ``MAX_OCCURRENCES``) so a request cannot ask for a
thousand sessions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, rrulestr

LONDON = ZoneInfo("Europe/London")
MAX_OCCURRENCES = 60
ALLOWED_FREQ = {"DAILY": DAILY, "WEEKLY": WEEKLY, "MONTHLY": MONTHLY}
#: Rule parts a series may use (no BYHOUR/BYMINUTE/BYSECOND: the time is DTSTART's).
ALLOWED_PARTS = {"FREQ", "COUNT", "UNTIL", "INTERVAL", "BYDAY", "BYMONTHDAY", "WKST", "BYSETPOS"}


class RecurrenceError(ValueError):
    """The RRULE is not one we accept; the message says why (shown to the client)."""


def _parts(rule: str) -> dict[str, str]:
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text or "\n" in text or len(text) > 500:
        raise RecurrenceError("Give one RRULE line, e.g. FREQ=WEEKLY;COUNT=6.")
    parts: dict[str, str] = {}
    for chunk in text.split(";"):
        name, sep, value = chunk.partition("=")
        name = name.strip().upper()
        if not sep or not name or not value.strip():
            raise RecurrenceError(f"Malformed rule part {chunk!r}.")
        if name in parts:
            raise RecurrenceError(f"{name} is given twice.")
        parts[name] = value.strip().upper()
    return parts


def _localise(naive: datetime) -> datetime:
    """Naive London wall-clock time → aware UTC (a time in the spring gap moves forward)."""
    aware = naive.replace(tzinfo=LONDON)
    # A nonexistent time (01:30 on the spring-forward Sunday) round-trips to a later one.
    return aware.astimezone(UTC)


def expand(rule: str, starts_at: datetime) -> list[datetime]:
    """Occurrence start instants (UTC) of ``rule`` from ``starts_at`` (an aware datetime)."""
    parts = _parts(rule)
    unknown = set(parts) - ALLOWED_PARTS
    if unknown:
        raise RecurrenceError(f"Unsupported rule parts: {', '.join(sorted(unknown))}.")
    if parts.get("FREQ") not in ALLOWED_FREQ:
        raise RecurrenceError("FREQ must be DAILY, WEEKLY or MONTHLY.")
    if ("COUNT" in parts) == ("UNTIL" in parts):
        raise RecurrenceError("Give exactly one of COUNT or UNTIL.")
    if "COUNT" in parts and (
        not parts["COUNT"].isdigit() or not 1 <= int(parts["COUNT"]) <= MAX_OCCURRENCES
    ):
        raise RecurrenceError(f"COUNT must be between 1 and {MAX_OCCURRENCES}.")
    if "INTERVAL" in parts and (
        not parts["INTERVAL"].isdigit() or not 1 <= int(parts["INTERVAL"]) <= 52
    ):
        raise RecurrenceError("INTERVAL must be between 1 and 52.")
    local_start = starts_at.astimezone(LONDON).replace(tzinfo=None)
    text = ";".join(f"{k}={v}" for k, v in parts.items())
    if "UNTIL" in parts:
        # UNTIL may be a date, a local time or a UTC time ("Z"): compare in local naive time.
        until = parts["UNTIL"]
        try:
            if until.endswith("Z"):
                when = datetime.strptime(until, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
                until_local = when.astimezone(LONDON).replace(tzinfo=None)
            elif "T" in until:
                until_local = datetime.strptime(until, "%Y%m%dT%H%M%S")
            else:
                until_local = datetime.strptime(until, "%Y%m%d") + timedelta(days=1, seconds=-1)
        except ValueError as exc:
            raise RecurrenceError("UNTIL must look like 20270331 or 20270331T180000Z.") from exc
        text = (
            ";".join(f"{k}={v}" for k, v in parts.items() if k != "UNTIL")
            + f";UNTIL={until_local:%Y%m%dT%H%M%S}"
        )
    try:
        rrule = rrulestr(text, dtstart=local_start)
    except (ValueError, TypeError) as exc:
        raise RecurrenceError(f"The rule cannot be read: {exc}.") from exc
    occurrences: list[datetime] = []
    for naive in rrule:
        occurrences.append(_localise(naive))
        if len(occurrences) > MAX_OCCURRENCES:
            raise RecurrenceError(f"The rule makes more than {MAX_OCCURRENCES} sessions.")
    if not occurrences:
        raise RecurrenceError("The rule makes no sessions.")
    return occurrences


def local_duration(starts_at: datetime, ends_at: datetime) -> timedelta:
    """The wall-clock length (18:00-20:00 stays two hours on the night the clocks change)."""
    return ends_at.astimezone(LONDON).replace(tzinfo=None) - starts_at.astimezone(LONDON).replace(
        tzinfo=None
    )


def shift_end(start_utc: datetime, duration: timedelta) -> datetime:
    """An occurrence's end: the same wall-clock length after its local start."""
    local = start_utc.astimezone(LONDON).replace(tzinfo=None)
    return _localise(local + duration)
