"""The reminder job: once, a day before, with the joining link or venue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.bookings import jobs
from tests.bookings.conftest import BookingsApp


def test_reminders_are_sent_once_the_day_before(bookings_app: BookingsApp) -> None:
    soon = bookings_app.add_session(
        starts_at=datetime.now(UTC) + timedelta(days=3),
        online_url="https://meet.example.org/maths",
        format="online",
        venue=None,
    )
    later = bookings_app.add_session(starts_at=datetime.now(UTC) + timedelta(days=10))
    token = bookings_app.token()
    bookings_app.book(token, soon["id"])
    bookings_app.book(token, later["id"])
    run_at = soon["starts_at"] - timedelta(hours=20)
    assert jobs.send_reminders(bookings_app.db, bookings_app.settings, now=run_at) == 1
    assert jobs.send_reminders(bookings_app.db, bookings_app.settings, now=run_at) == 0
    mail = bookings_app.mails()[-1]
    assert mail["Subject"] == "Reminder: Early maths in play"
    assert "https://meet.example.org/maths" in mail.get_body(("plain",)).get_content()


def test_no_reminder_for_waitlisted_cancelled_or_late_bookings(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session(capacity=1, starts_at=datetime.now(UTC) + timedelta(days=3))
    tokens = [bookings_app.token() for _ in range(3)]
    ids = [bookings_app.book(t, sess["id"]).get_json()["id"] for t in tokens]
    bookings_app.client.post(
        f"/api/bookings/{ids[0]}/cancel", headers=bookings_app.headers(tokens[0])
    )  # promotes ids[1] now: more than a day before, so it is reminded
    run_at = sess["starts_at"] - timedelta(hours=2)
    assert jobs.send_reminders(bookings_app.db, bookings_app.settings, now=run_at) == 1
    reminded = [m["To"] for m in bookings_app.mails() if m["Subject"].startswith("Reminder")]
    booking = next(b for b in bookings_app.bookings(sess["id"]) if str(b.id) == ids[1])
    assert reminded == [booking.user_email]
    # Booked within the last day: the confirmation was the reminder.
    late = bookings_app.add_session(starts_at=datetime.now(UTC) + timedelta(hours=5))
    bookings_app.book(bookings_app.token(), late["id"])
    assert jobs.send_reminders(bookings_app.db, bookings_app.settings) == 0
