"""Invites: REQUEST on confirmation, update on reschedule, CANCEL; read back with ical.js."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from icalendar import Calendar

from services.bookings import notify
from services.bookings import operations as ops
from tests.bookings.conftest import BookingsApp
from tests.support.icaljs import parse_with_icaljs


def invite_of(mail: EmailMessage) -> tuple[str, bytes]:
    """The calendar alternative part: its MIME ``method`` and the file's bytes."""
    parts = [p for p in mail.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, [p.get_content_type() for p in mail.walk()]
    part = parts[0]
    return part.get_param("method"), part.get_content().encode()


def test_request_update_cancel_share_a_uid_and_count_sequence(bookings_app: BookingsApp) -> None:
    # 10:00 London on the Saturday before the clocks go forward (GMT, 10:00Z) ...
    starts = datetime(2027, 3, 27, 10, 0, tzinfo=UTC)
    sess = bookings_app.add_session(starts_at=starts, ends_at=starts + timedelta(hours=2))
    token = bookings_app.token(name="Amira Hussain")
    booking = bookings_app.book(token, sess["id"]).get_json()
    email = next(b.user_email for b in bookings_app.bookings(sess["id"]))

    # ... moved to 10:00 London a week later, in BST (09:00Z).
    moved = datetime(2027, 4, 3, 9, 0, tzinfo=UTC)
    with bookings_app.db.transaction() as s:
        ops.apply_reschedule(
            s,
            bookings_app.settings,
            sess["id"],
            starts_at=moved,
            ends_at=moved + timedelta(hours=2),
            sequence=1,
        )
    bookings_app.client.post(
        f"/api/bookings/{booking['id']}/cancel", headers=bookings_app.headers(token)
    )

    mails = bookings_app.mails(to=email)
    assert [m["Subject"].split(":")[0] for m in mails] == ["Booked", "Moved", "Booking cancelled"]
    parsed = []
    for mail, method in zip(mails, ("REQUEST", "REQUEST", "CANCEL"), strict=True):
        mime_method, ics = invite_of(mail)
        assert mime_method == method
        assert Calendar.from_ical(ics)["METHOD"] == method
        assert b"RDATE" not in ics
        cal = parse_with_icaljs(ics)
        assert cal["method"] == method
        (event,) = cal["events"]
        parsed.append(event)
    uid = f"booking-{booking['id']}@{bookings_app.settings.public_host}"
    assert {e["uid"] for e in parsed} == {uid}
    assert [e["sequence"] for e in parsed] == [0, 1, 2]
    assert [e["status"] for e in parsed] == ["CONFIRMED", "CONFIRMED", "CANCELLED"]
    assert parsed[0]["start"] == "2027-03-27T10:00:00Z"
    assert parsed[0]["dtstart"]["tzid"] == "Europe/London"
    assert parsed[0]["dtstart"]["local"] == "2027-03-27T10:00:00"
    assert parsed[1]["start"] == "2027-04-03T09:00:00Z"
    assert parsed[1]["dtstart"]["local"] == "2027-04-03T10:00:00"
    assert parsed[1]["end"] == "2027-04-03T11:00:00Z"
    attendee = parsed[0]["attendees"][0]
    assert attendee["value"] == f"mailto:{email}"
    assert attendee["params"]["PARTSTAT"] == "NEEDS-ACTION"
    assert attendee["params"]["RSVP"] == "TRUE"
    assert parsed[0]["organizer"]["value"].startswith("mailto:")
    stored = bookings_app.bookings(sess["id"])[0]
    assert stored.invite_sequence == 2


def test_promotion_sends_a_first_invite(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session(capacity=1)
    first, second = bookings_app.token(), bookings_app.token()
    taken = bookings_app.book(first, sess["id"]).get_json()["id"]
    waiting = bookings_app.book(second, sess["id"]).get_json()["id"]
    bookings_app.client.post(f"/api/bookings/{taken}/cancel", headers=bookings_app.headers(first))
    promoted = next(b for b in bookings_app.bookings(sess["id"]) if str(b.id) == waiting)
    mail = bookings_app.mails(to=promoted.user_email)[-1]
    method, ics = invite_of(mail)
    (event,) = parse_with_icaljs(ics)["events"]
    assert method == "REQUEST" and event["sequence"] == 0
    assert event["location"] == "Hub room 1, 1 High Street"


def test_session_cancelled_by_the_hub_sends_cancel_invites(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session(capacity=1)
    confirmed, waiting = bookings_app.token(), bookings_app.token()
    bookings_app.book(confirmed, sess["id"])
    bookings_app.book(waiting, sess["id"])
    with bookings_app.db.transaction() as s:
        ops.apply_session_cancelled(s, bookings_app.settings, sess["id"], reason="Snow")
    by_status = {b.previous_status: b for b in bookings_app.bookings(sess["id"])}
    method, ics = invite_of(bookings_app.mails(to=by_status["confirmed"].user_email)[-1])
    (event,) = parse_with_icaljs(ics)["events"]
    assert (method, event["status"], event["sequence"]) == ("CANCEL", "CANCELLED", 1)
    # The waiting list never had an invite: a plain mail, no calendar part.
    plain = bookings_app.mails(to=by_status["waitlisted"].user_email)[-1]
    assert "Snow" in plain.get_body(("plain",)).get_content()
    assert not [p for p in plain.walk() if p.get_content_type() == "text/calendar"]


def test_a_confirmation_prepared_before_a_session_change_is_rebuilt(
    bookings_app: BookingsApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The invite is rendered outside the lock; if the session moved meanwhile, it is redone."""
    sess = bookings_app.add_session(title="Before")
    real = notify.prepare_confirmation

    def prepare_then_rename(*args, **kwargs):  # type: ignore[no-untyped-def]
        prepared = real(*args, **kwargs)
        with bookings_app.db.transaction() as s:  # the catalogue renames it meanwhile
            ops.upsert_session(s, {**sess, "title": "After", "sequence": 1})
        return prepared

    monkeypatch.setattr(notify, "prepare_confirmation", prepare_then_rename)
    booking = bookings_app.book(bookings_app.token(), sess["id"]).get_json()
    (mail,) = bookings_app.mails()
    assert mail["Subject"] == "Booked: After"
    _method, ics = invite_of(mail)
    (event,) = parse_with_icaljs(ics)["events"]
    assert event["summary"] == "After" and event["sequence"] == 0
    assert event["uid"].startswith(f"booking-{booking['id']}@")


def test_a_booking_downloads_as_a_calendar_with_its_invites_uid(bookings_app: BookingsApp) -> None:
    """My bookings' "Add to calendar": the booking as a PUBLISH file with the invite's UID
    and last SEQUENCE (opening it updates the invited event), yours only."""
    sess = bookings_app.add_session()
    token = bookings_app.token(name="Amira Hussain")
    booking = bookings_app.book(token, sess["id"]).get_json()
    url = f"/api/bookings/{booking['id']}/calendar.ics"
    resp = bookings_app.client.get(url, headers=bookings_app.headers(token))
    assert resp.status_code == 200, resp.get_json()
    assert resp.mimetype == "text/calendar"
    assert resp.headers["Content-Disposition"] == "attachment; filename=booking.ics"
    cal = parse_with_icaljs(resp.data)
    assert cal["method"] == "PUBLISH"
    (event,) = cal["events"]
    assert event["uid"] == f"booking-{booking['id']}@{bookings_app.settings.public_host}"
    assert (event["sequence"], event["status"]) == (0, "CONFIRMED")
    assert event["summary"] == sess["title"]

    bookings_app.client.post(
        f"/api/bookings/{booking['id']}/cancel", headers=bookings_app.headers(token)
    )
    (event,) = parse_with_icaljs(
        bookings_app.client.get(url, headers=bookings_app.headers(token)).data
    )["events"]
    assert (event["sequence"], event["status"]) == (1, "CANCELLED")  # as the CANCEL sent

    other = bookings_app.headers(bookings_app.token())
    assert bookings_app.client.get(url, headers=other).status_code == 404
    assert bookings_app.client.get(url).status_code == 401
