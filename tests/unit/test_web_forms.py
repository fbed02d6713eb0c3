"""What the pages' forms accept (gateway/web/forms.py: UK times, dates, pounds) and the
shared formats the pages show them back in (gateway/web/formatting.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from flask import Blueprint, Flask

from gateway.web.base import safe_next
from gateway.web.formatting import api_utc, financial_year_of, money, pounds, webcal
from gateway.web.forms import (
    date_range,
    london_time,
    london_utc,
    london_wall,
    parse_date,
    parse_iso_date,
    parse_pounds,
    parse_time,
    parse_whole,
    skipped_in_london,
)


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("18:30", time(18, 30)),
        ("14:30", time(14, 30)),
        ("9:05", time(9, 5)),
        ("09.05", time(9, 5)),
        ("9.15", time(9, 15)),
        ("6:30pm", time(18, 30)),
        ("6pm", time(18, 0)),
        ("2pm", time(14, 0)),
        ("2:30 PM", time(14, 30)),
        (" 07:05 AM ", time(7, 5)),
        ("12am", time(0, 0)),
        ("12pm", time(12, 0)),
        ("18", None),  # ambiguous without minutes
        ("24:00", None),
        ("13pm", None),
        ("9:5", None),
        ("half six", None),
        ("noon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_time(raw: str | None, want: time | None) -> None:
    assert parse_time(raw) == want


def test_parse_date_needs_a_real_day_and_a_four_digit_year() -> None:
    assert parse_date("23", "3", "2027") == date(2027, 3, 23)
    assert parse_date(" 23", "3 ", "2027") == date(2027, 3, 23)
    assert parse_date("30", "2", "2027") is None
    assert parse_date("1", "1", "27") is None
    assert parse_date("+1", "1", "2027") is None
    assert parse_date("1_0", "1", "2027") is None
    assert parse_date("", "", "") is None


def test_parse_iso_date_needs_the_shape_and_a_real_day() -> None:
    assert parse_iso_date("2027-03-23") == date(2027, 3, 23)
    assert parse_iso_date("2027-02-30") is None
    assert parse_iso_date("2027-3-23") is None
    assert parse_iso_date("") is None and parse_iso_date(None) is None


def test_date_range_names_each_wrong_field() -> None:
    errors: list[dict[str, str]] = []
    assert date_range("2027-03-01", "", errors) == (date(2027, 3, 1), None) and errors == []
    assert date_range("2027-02-30", "soon", errors) == (None, None)
    assert [e["field"] for e in errors] == ["from", "to"]
    errors.clear()
    assert date_range("2027-03-02", "2027-03-01", errors) == (date(2027, 3, 2), date(2027, 3, 1))
    assert errors == [{"field": "to", "text": "Date to must be the same as or after date from"}]


@pytest.mark.parametrize(
    ("raw", "pence"),
    [
        ("10", 1000),
        ("£12.50", 1250),
        ("£ 1,234.50", 123450),
        ("1,200", 120000),
        ("0.5", 50),
        ("123456789", 12345678900),
        ("12.345", None),
        ("ten", None),
        ("-5", None),
        ("", None),
    ],
)
def test_parse_pounds(raw: str, pence: int | None) -> None:
    assert parse_pounds(raw) == pence


def test_uk_time_is_gmt_in_winter_and_bst_in_summer() -> None:
    assert london_utc(date(2027, 3, 23), time(18, 30)) == "2027-03-23T18:30:00Z"
    assert london_utc(date(2027, 3, 30), time(18, 30)) == "2027-03-30T17:30:00Z"
    # The clocks go forward at 1am on 28 March 2027: 9am that day is BST already.
    assert london_time(date(2027, 3, 28), time(9, 0)) == datetime(2027, 3, 28, 8, tzinfo=UTC)
    assert london_utc(date(2027, 7, 1)) == "2027-06-30T23:00:00Z"  # midnight


def test_api_utc() -> None:
    assert api_utc(datetime(2026, 12, 2, 16, 0, 5, 123, tzinfo=UTC)) == "2026-12-02T16:00:05Z"


@pytest.mark.parametrize(
    ("day", "dashed", "slashed"),
    [
        (date(2026, 3, 31), "2025-26", "2025/26"),
        (date(2026, 4, 1), "2026-27", "2026/27"),
        (date(2099, 12, 31), "2099-00", "2099/00"),
    ],
)
def test_financial_year_runs_april_to_march(day: date, dashed: str, slashed: str) -> None:
    assert financial_year_of(day) == dashed
    assert financial_year_of(day, "/") == slashed


def test_pounds_shows_nought_and_money_shows_free() -> None:
    assert pounds(0) == "£0" and pounds(None) == "£0"
    assert pounds(123_456) == "£1,234.56" and pounds(-500) == "-£5"
    assert money(0) == "Free" and money(None) == "Free" and money(1250) == "£12.50"


def test_webcal() -> None:
    assert webcal("http://localhost:8000/calendar/mentoring/x.ics").startswith("webcal://local")
    assert webcal("https://eyhub.example/c.ics") == "webcal://eyhub.example/c.ics"


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("1,234.50", 123450),
        ("1,234,567", 123456700),
        ("12,50", None),  # a comma for a decimal point: refused, never £1,250
        ("1,2,3", None),
        ("12,5000", None),
        ("£12.5", 1250),
    ],
)
def test_commas_only_between_thousands(raw: str, want: int | None) -> None:
    assert parse_pounds(raw) == want


@pytest.mark.parametrize(("raw", "want"), [("12", 12), (" 7 ", 7), ("²", None), ("١٢", None)])
def test_whole_numbers_are_ascii_digits(raw: str, want: int | None) -> None:
    assert parse_whole(raw) == want


def test_times_the_clocks_skip_are_refused_and_shown_times_read_back() -> None:
    spring = date(2027, 3, 28)  # 1am GMT becomes 2am BST
    why = skipped_in_london(spring, time(1, 30))
    assert why is not None and "no 01:30 on 28 March 2027" in why
    assert skipped_in_london(spring, time(2, 30)) is None
    assert skipped_in_london(date(2027, 10, 31), time(1, 30)) is None  # twice, but real
    # A session in the repeated autumn hour (01:30 GMT) shows as 01:30 and reads back so.
    assert london_wall("2027-10-31T01:30:00Z") == (date(2027, 10, 31), time(1, 30))
    assert london_wall("2027-03-30T17:30:00Z") == (date(2027, 3, 30), time(18, 30))


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/my-bookings", True),
        ("/sessions/1?x=1", True),
        ("//evil.example", False),
        ("/\\evil.example", False),
        ("/\t/evil.example", False),
        ("/\n/evil.example", False),
        ("/a\\b", False),
        ("https://evil.example/", False),
        ("", False),
    ],
)
def test_after_sign_in_only_paths_on_this_site(target: str, kept: bool) -> None:
    app = Flask(__name__)
    web = Blueprint("web", __name__)
    web.add_url_rule("/", "home", lambda: "home")
    app.register_blueprint(web)
    with app.test_request_context():
        assert safe_next(target) == (target if kept else "/")
