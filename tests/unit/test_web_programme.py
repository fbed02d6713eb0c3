"""The programme pages' pure parts: times typed in UK time, the series rule, pounds, and
the create form's checks (what the catalogue API cannot check for the page)."""

from __future__ import annotations

from datetime import date, time

import pytest
from werkzeug.datastructures import MultiDict

from gateway.web.programme import (
    london_utc,
    parse_date,
    parse_time,
    pounds_to_pence,
    read_event_form,
    repeat_rule,
)


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("18:30", time(18, 30)),
        ("6:30pm", time(18, 30)),
        ("6pm", time(18, 0)),
        ("12am", time(0, 0)),
        ("12pm", time(12, 0)),
        ("9.15", time(9, 15)),
        (" 07:05 AM ", time(7, 5)),
        ("18", None),  # ambiguous without minutes
        ("24:00", None),
        ("13pm", None),
        ("half six", None),
        ("", None),
    ],
)
def test_parse_time(raw: str, want: time | None) -> None:
    assert parse_time(raw) == want


def test_parse_date_needs_a_real_day_and_a_four_digit_year() -> None:
    assert parse_date("23", "3", "2027") == date(2027, 3, 23)
    assert parse_date("30", "2", "2027") is None
    assert parse_date("1", "1", "27") is None
    assert parse_date("", "", "") is None


def test_uk_time_is_gmt_in_winter_and_bst_in_summer() -> None:
    assert london_utc(date(2027, 3, 23), time(18, 30)) == "2027-03-23T18:30:00Z"
    assert london_utc(date(2027, 3, 30), time(18, 30)) == "2027-03-30T17:30:00Z"


def test_repeat_rule() -> None:
    assert repeat_rule("none", 3, None) is None
    assert repeat_rule("weekly", 3, None) == "FREQ=WEEKLY;COUNT=3"
    assert repeat_rule("fortnightly", None, date(2027, 5, 4)) == (
        "FREQ=WEEKLY;INTERVAL=2;UNTIL=20270504"
    )
    assert repeat_rule("monthly", 6, None) == "FREQ=MONTHLY;COUNT=6"
    assert repeat_rule("weekly", None, None) is None


@pytest.mark.parametrize(
    ("raw", "pence"),
    [("", 0), ("10", 1000), ("£12.50", 1250), ("1,200", 120000), ("0.5", 50), ("12.345", None)],
)
def test_pounds_to_pence(raw: str, pence: int | None) -> None:
    assert pounds_to_pence(raw) == pence


def _form(**overrides: str | list[str]) -> MultiDict[str, str]:
    fields: dict[str, str | list[str]] = {
        "title": "Early maths evenings",
        "kind": "training",
        "audience": ["childminder", "nursery"],
        "topics": ["mathematics"],
        "format": "online",
        "online_url": "https://meet.example.org/maths",
        "cpd_hours": "1.5",
        "capacity": "12",
        "price": "10",
        "start-day": "23",
        "start-month": "3",
        "start-year": "2027",
        "start_time": "18:30",
        "end_time": "8pm",
        "repeat": "weekly",
        "count": "3",
        **overrides,
    }
    out: MultiDict[str, str] = MultiDict()
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            out.add(key, item)
    return out


def test_a_good_form_makes_the_api_bodies() -> None:
    form = read_event_form(_form())
    assert form.errors == []
    assert form.event["price_pence"] == 1000 and form.event["audience"] == [
        "childminder",
        "nursery",
    ]
    assert form.sessions == {
        "starts_at": "2027-03-23T18:30:00Z",
        "ends_at": "2027-03-23T20:00:00Z",
        "rrule": "FREQ=WEEKLY;COUNT=3",
    }


def test_form_errors_name_their_fields() -> None:
    form = read_event_form(
        _form(title="", audience=[], end_time="18:00", count="", price="ten", kind="party")
    )
    assert {e["field"] for e in form.errors} == {
        "title",
        "audience",
        "end_time",
        "count",
        "price",
        "kind",
    }
    until = read_event_form(_form(count="", **{"until-day": "1", "until-month": "3"}))
    assert [e["field"] for e in until.errors] == ["until-day"]
    past = read_event_form(_form(**{"start-year": "2020"}))
    assert [e["field"] for e in past.errors] == ["start-day"]
    one = read_event_form(_form(repeat="none", count=""))
    assert one.errors == [] and "rrule" not in one.sessions
