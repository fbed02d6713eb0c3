"""Roster, attendance, CPD record and feedback."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

from tests.bookings.conftest import OTHER_HUB, BookingsApp


def _setup_attended(bookings_app: BookingsApp, people: int = 3, **session):  # type: ignore[no-untyped-def]
    """A session in the past with ``people`` bookings; returns (session, tokens, ids)."""
    sess = bookings_app.add_session(**session)
    tokens = [bookings_app.token() for _ in range(people)]
    ids = [bookings_app.book(t, sess["id"]).get_json()["id"] for t in tokens]
    bookings_app.set_past(sess["id"])
    return sess, tokens, ids


def _attend(bookings_app: BookingsApp, session_id, marks: dict[str, bool]):  # type: ignore[no-untyped-def]
    return bookings_app.client.post(
        f"/api/bookings/sessions/{session_id}/attendance",
        json={"records": [{"booking_id": i, "attended": a} for i, a in marks.items()]},
        headers=bookings_app.headers(bookings_app.lead_token()),
    )


def test_roster_json_and_csv_for_the_hub_lead_only(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session(capacity=1)
    names = ["Ann", '=HYPERLINK("x")', "Cat"]
    for name in names:
        bookings_app.book(bookings_app.token(name=name), sess["id"])
    url = f"/api/bookings/sessions/{sess['id']}/roster"
    lead = bookings_app.headers(bookings_app.lead_token())
    data = bookings_app.client.get(url, headers=lead).get_json()
    assert (data["capacity"], data["confirmed"], data["waitlisted"]) == (1, 1, 2)
    assert [(i["name"], i["status"], i["waitlist_position"]) for i in data["items"]] == [
        ("Ann", "confirmed", None),
        (names[1], "waitlisted", 1),
        ("Cat", "waitlisted", 2),
    ]
    resp = bookings_app.client.get(url + "?format=csv", headers=lead)
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True))))
    assert rows[0][:5] == ["booking_id", "name", "email", "setting_type", "status"]
    assert [r[1] for r in rows[1:]] == ["Ann", "'" + names[1], "Cat"]  # no formulas
    for headers, status in (
        (bookings_app.headers(bookings_app.token()), 403),
        (bookings_app.headers(bookings_app.lead_token(OTHER_HUB)), 403),
        ({}, 401),
    ):
        assert bookings_app.client.get(url, headers=headers).status_code == status
    assert bookings_app.client.get(url + "?format=xml", headers=lead).status_code == 422
    missing = f"/api/bookings/sessions/{uuid.uuid4()}/roster"
    assert bookings_app.client.get(missing, headers=lead).status_code == 404


def test_attendance_once_started_all_or_nothing(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session()
    tokens = [bookings_app.token() for _ in range(2)]
    ids = [bookings_app.book(t, sess["id"]).get_json()["id"] for t in tokens]
    early = _attend(bookings_app, sess["id"], {ids[0]: True})
    assert early.status_code == 409
    bookings_app.set_past(sess["id"])
    bad = _attend(bookings_app, sess["id"], {ids[0]: True, str(uuid.uuid4()): False})
    assert bad.status_code == 422 and "records.1.booking_id" in bad.get_json()["errors"]
    assert {b.status for b in bookings_app.bookings(sess["id"])} == {"confirmed"}
    ok = _attend(bookings_app, sess["id"], {ids[0]: True, ids[1]: False})
    assert ok.status_code == 200
    assert [i["status"] for i in ok.get_json()["items"]] == ["attended", "no_show"]
    fixed = _attend(bookings_app, sess["id"], {ids[1]: True})  # a correction
    assert fixed.get_json()["items"][0]["status"] == "attended"
    dup = bookings_app.client.post(
        f"/api/bookings/sessions/{sess['id']}/attendance",
        json={"records": [{"booking_id": ids[0], "attended": True}] * 2},
        headers=bookings_app.headers(bookings_app.lead_token()),
    )
    assert dup.status_code == 422
    stranger = bookings_app.client.post(
        f"/api/bookings/sessions/{sess['id']}/attendance",
        json={"records": [{"booking_id": ids[0], "attended": False}]},
        headers=bookings_app.headers(tokens[0]),
    )
    assert stranger.status_code == 403
    assert bookings_app.bookings(sess["id"])[0].status == "attended"


def test_cancelled_and_waitlisted_bookings_have_no_attendance(bookings_app: BookingsApp) -> None:
    sess, _tokens, ids = _setup_attended(bookings_app, people=2, capacity=1)
    resp = _attend(bookings_app, sess["id"], {ids[1]: True})
    assert resp.status_code == 422 and "waitlisted" in str(resp.get_json()["errors"])


def test_cpd_record_counts_attended_hours_by_topic_and_year(bookings_app: BookingsApp) -> None:
    user = uuid.uuid4()
    token = bookings_app.token(user)
    made = []
    for topics, hours in ((["mathematics", "send"], 2), (["literacy"], 1.5), (["send"], 3)):
        sess = bookings_app.add_session(topics=topics, cpd_hours=hours)
        made.append((sess, bookings_app.book(token, sess["id"]).get_json()["id"]))
    for sess, _booking_id in made:
        bookings_app.set_past(sess["id"])
    _attend(bookings_app, made[0][0]["id"], {made[0][1]: True})
    _attend(bookings_app, made[1][0]["id"], {made[1][1]: True})
    _attend(bookings_app, made[2][0]["id"], {made[2][1]: False})  # no-show: no hours
    record = bookings_app.client.get(
        "/api/bookings/cpd-record", headers=bookings_app.headers(token)
    ).get_json()
    assert record["total_hours"] == 3.5
    assert record["by_topic"] == {"literacy": 1.5, "mathematics": 2.0, "send": 2.0}
    now = datetime.now(UTC)
    start = now.year if now.month >= 9 else now.year - 1
    assert list(record["by_year"]) == [f"{start}/{(start + 1) % 100:02d}"]
    assert len(record["items"]) == 2
    other = bookings_app.client.get(
        "/api/bookings/cpd-record", headers=bookings_app.headers(bookings_app.token())
    ).get_json()
    assert other == {"total_hours": 0.0, "by_topic": {}, "by_year": {}, "items": []}
    resp = bookings_app.client.get(
        "/api/bookings/cpd-record?format=csv", headers=bookings_app.headers(token)
    )
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True))))
    assert rows[0] == ["date", "title", "kind", "topics", "hours", "year", "session_id"]
    assert sorted(r[4] for r in rows[1:]) == ["1.50", "2.00"]


def test_feedback_once_for_attended_and_anonymous_summary(bookings_app: BookingsApp) -> None:
    sess, tokens, ids = _setup_attended(bookings_app, people=4)
    _attend(bookings_app, sess["id"], {ids[0]: True, ids[1]: True, ids[2]: True, ids[3]: False})

    def give(i: int, body: dict):  # type: ignore[no-untyped-def]
        return bookings_app.client.post(
            f"/api/bookings/{ids[i]}/feedback", json=body, headers=bookings_app.headers(tokens[i])
        )

    def given(i: int) -> bool:
        record = bookings_app.client.get(
            "/api/bookings/cpd-record", headers=bookings_app.headers(tokens[i])
        ).get_json()
        (item,) = record["items"]
        return bool(item["feedback_given"])

    summary_url = f"/api/bookings/sessions/{sess['id']}/feedback-summary"
    lead = bookings_app.headers(bookings_app.lead_token())
    assert not given(0)
    first = give(0, {"rating": 5, "comment": "Loved the counting songs"})
    assert first.status_code == 201 and first.get_json()["rating"] == 5
    assert given(0) and not given(1)  # the CPD record says which are done
    assert give(0, {"rating": 4}).status_code == 409  # once
    assert give(3, {"rating": 1}).status_code == 409  # no-show
    for bad in ({"rating": 0}, {"rating": 6}, {"rating": "5"}, {}, {"rating": 3, "x": 1}):
        assert give(1, bad).status_code == 422
    other = bookings_app.client.post(
        f"/api/bookings/{ids[1]}/feedback",
        json={"rating": 1},
        headers=bookings_app.headers(tokens[0]),
    )
    assert other.status_code == 404
    summary = bookings_app.client.get(summary_url, headers=lead).get_json()
    assert summary["responses"] == 1 and summary["comments"] is None
    assert summary["comments_withheld"] is True
    give(1, {"rating": 3, "comment": "Too short"})
    give(2, {"rating": 4})
    summary = bookings_app.client.get(summary_url, headers=lead).get_json()
    assert summary["responses"] == 3 and summary["average_rating"] == 4.0
    assert summary["ratings"] == {"1": 0, "2": 0, "3": 1, "4": 1, "5": 1}
    assert summary["comments"] == ["Loved the counting songs", "Too short"]
    assert (
        bookings_app.client.get(summary_url, headers=bookings_app.headers(tokens[0])).status_code
        == 403
    )


def test_cpd_hours_fall_back_to_session_length(bookings_app: BookingsApp) -> None:
    token = bookings_app.token()
    starts = datetime.now(UTC) + timedelta(days=3)
    sess = bookings_app.add_session(
        cpd_hours=0, starts_at=starts, ends_at=starts + timedelta(minutes=90)
    )
    booking_id = bookings_app.book(token, sess["id"]).get_json()["id"]
    bookings_app.set_past(sess["id"])
    _attend(bookings_app, sess["id"], {booking_id: True})
    record = bookings_app.client.get(
        "/api/bookings/cpd-record", headers=bookings_app.headers(token)
    ).get_json()
    assert record["total_hours"] == 1.5
