"""The mentoring pages' pure parts: the time a mentor types (London) as the API's UTC,
the "why this pair" rows, the caseload's tag, and the labels covering the service's codes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.web.mentoring import (
    MATCH_STATUSES,
    MENTORING_FORMATS,
    REQUEST_STATUSES,
    UNMATCHED,
    WHY,
    load_tag,
    meeting_times,
    why_pair,
)
from services.mentoring import matching
from services.mentoring.models import FORMATS
from services.mentoring.models import MATCH_STATUSES as SERVICE_MATCH_STATUSES
from services.mentoring.models import REQUEST_STATUSES as SERVICE_REQUEST_STATUSES


def _form(day: str, month: str, year: str, clock: str, duration: str = "60") -> dict[str, str]:
    return {"day": day, "month": month, "year": year, "time": clock, "duration": duration}


@pytest.mark.parametrize(
    ("form", "starts"),
    [
        (_form("14", "7", "2027", "2:30pm"), datetime(2027, 7, 14, 13, 30, tzinfo=UTC)),  # BST
        (_form("14", "1", "2027", "2:30pm"), datetime(2027, 1, 14, 14, 30, tzinfo=UTC)),  # GMT
        # The clocks go forward at 1am on 28 March 2027: 9am that day is BST already.
        (_form("28", "3", "2027", "09:00"), datetime(2027, 3, 28, 8, 0, tzinfo=UTC)),
    ],
)
def test_meeting_times_are_london_times(form: dict[str, str], starts: datetime) -> None:
    errors: list[dict[str, str]] = []
    assert meeting_times(form, errors) == (starts, starts.replace(hour=starts.hour + 1))
    assert errors == []


def test_meeting_times_name_each_wrong_field() -> None:
    errors: list[dict[str, str]] = []
    assert meeting_times(_form("30", "2", "2027", "25:00", "7"), errors) is None
    assert [e["field"] for e in errors] == ["day", "time", "duration"]
    errors.clear()
    assert meeting_times(_form("14", "7", "27", "14"), errors) is None  # a year and an hour
    assert [e["field"] for e in errors] == ["day", "time"]


def test_why_pair_puts_what_counted_first() -> None:
    breakdown = {"topics": 10, "setting_type": 0, "language": 4, "region": 0, "load_balance": -2}
    rows = why_pair(breakdown)
    assert rows[0] == (WHY["topics"], 10) and rows[1] == (WHY["language"], 4)
    assert rows[-1] == (WHY["load_balance"], -2)
    assert why_pair({"new_term": 3}) == [("New term", 3)]


def test_labels_cover_the_service() -> None:
    proposal = matching.score_pair(
        matching.Request("r", "m", frozenset({"send"}), "nursery", "online", "A"),
        matching.Mentor(
            "x",
            frozenset({"send"}),
            frozenset(),
            frozenset({"online"}),
            None,
            frozenset(),
            "B",
            2,
            0,
        ),
        matching.Weights(),
    )
    assert set(proposal.breakdown) == set(WHY)
    reasons = {matching.REASON_NO_CAPACITY, matching.REASON_NO_FORMAT, matching.REASON_EXCLUDED}
    assert reasons == set(UNMATCHED)
    assert set(MENTORING_FORMATS) == set(FORMATS)
    assert set(REQUEST_STATUSES) == set(SERVICE_REQUEST_STATUSES)
    assert set(MATCH_STATUSES) == set(SERVICE_MATCH_STATUSES)


def test_load_tag() -> None:
    assert load_tag(2, 2) == ("Full", "govuk-tag--red")
    assert load_tag(1, 2)[0] == "1 place left"
    assert load_tag(0, 3)[0] == "3 places left"
    assert load_tag(0, None)[0] == "No profile yet"
