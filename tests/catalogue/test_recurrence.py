"""RRULE series keep their London wall-clock time across both DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.catalogue.recurrence import (
    LONDON,
    MAX_OCCURRENCES,
    RecurrenceError,
    expand,
    local_duration,
    shift_end,
)


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON).astimezone(UTC)


def test_weekly_across_march_change_stays_at_18_london() -> None:
    starts = expand("FREQ=WEEKLY;COUNT=4", london(2027, 3, 16, 18, 0))
    # 28 March 2027 is the last Sunday of March: clocks go forward.
    assert [s.isoformat() for s in starts] == [
        "2027-03-16T18:00:00+00:00",
        "2027-03-23T18:00:00+00:00",
        "2027-03-30T17:00:00+00:00",
        "2027-04-06T17:00:00+00:00",
    ]
    assert {s.astimezone(LONDON).hour for s in starts} == {18}


def test_weekly_across_october_change_stays_at_18_london() -> None:
    starts = expand("RRULE:FREQ=WEEKLY;UNTIL=20271109", london(2027, 10, 19, 18, 0))
    assert [s.astimezone(UTC).hour for s in starts] == [17, 17, 18, 18]
    assert {s.astimezone(LONDON).hour for s in starts} == {18}


def test_monthly_by_day_and_until_in_utc() -> None:
    starts = expand("FREQ=MONTHLY;BYDAY=1WE;UNTIL=20270630T235959Z", london(2027, 1, 6, 9, 30))
    assert [s.astimezone(LONDON).strftime("%m-%d %H:%M") for s in starts] == [
        "01-06 09:30",
        "02-03 09:30",
        "03-03 09:30",
        "04-07 09:30",
        "05-05 09:30",
        "06-02 09:30",
    ]


def test_duration_is_wall_clock_on_the_night_of_the_change() -> None:
    start = london(2027, 3, 27, 23, 0)
    end = start + timedelta(hours=2)  # two real hours end at 02:00 BST: 3 on the clock
    assert local_duration(start, end) == timedelta(hours=3)
    assert shift_end(london(2027, 4, 3, 18, 0), timedelta(hours=2)) == london(2027, 4, 3, 20, 0)


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=YEARLY;COUNT=3",
        "FREQ=HOURLY;COUNT=3",
        "FREQ=WEEKLY",
        "FREQ=WEEKLY;COUNT=3;UNTIL=20270101",
        f"FREQ=DAILY;COUNT={MAX_OCCURRENCES + 1}",
        "FREQ=DAILY;COUNT=0",
        "FREQ=DAILY;COUNT=abc",
        "FREQ=DAILY;UNTIL=20301231",
        "FREQ=WEEKLY;COUNT=3;BYHOUR=9",
        "FREQ=WEEKLY;COUNT=3;BYDAY=XX",
        "FREQ=WEEKLY;UNTIL=notadate",
        "FREQ=WEEKLY;UNTIL=20200101",
        "COUNT=3",
        "FREQ=WEEKLY;;COUNT=3",
        "FREQ=WEEKLY;COUNT=2;COUNT=3",
        "",
        "FREQ=WEEKLY;COUNT=3\nRRULE:FREQ=DAILY;COUNT=3",
        "FREQ=WEEKLY;INTERVAL=0;COUNT=2",
    ],
)
def test_rules_we_refuse(rule: str) -> None:
    with pytest.raises(RecurrenceError):
        expand(rule, london(2027, 1, 5, 18, 0))


def test_sixty_is_allowed() -> None:
    assert len(expand("FREQ=DAILY;COUNT=60", london(2027, 1, 5, 18, 0))) == 60
