"""The programme pages' pure parts: the series rule and the create form's checks (what the
catalogue API cannot check for the page; the times, dates and pounds it reads are
tests/unit/test_web_forms.py's)."""

from __future__ import annotations

from datetime import date

from werkzeug.datastructures import MultiDict

from gateway.web.programme import read_event_form, repeat_rule


def test_repeat_rule() -> None:
    assert repeat_rule("none", 3, None) is None
    assert repeat_rule("weekly", 3, None) == "FREQ=WEEKLY;COUNT=3"
    assert repeat_rule("fortnightly", None, date(2027, 5, 4)) == (
        "FREQ=WEEKLY;INTERVAL=2;UNTIL=20270504"
    )
    assert repeat_rule("monthly", 6, None) == "FREQ=MONTHLY;COUNT=6"
    assert repeat_rule("weekly", None, None) is None


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
