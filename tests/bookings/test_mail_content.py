"""Mail bodies come from templates: a text and an HTML alternative, one "where" partial.

The HTML part must escape whatever users typed (titles, names, venues, reasons); the
text part must not (a plain-text mail showing ``&lt;`` is broken too).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from services.bookings import jobs, notify
from services.bookings import operations as ops
from services.bookings.models import SessionReplica
from tests.bookings.conftest import BookingsApp

TITLE = 'Maths <script>alert("x")</script> & play'
SAFE_TITLE = "Maths &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; play"


def bodies(mail: EmailMessage) -> tuple[str, str]:
    """The plain-text and HTML bodies of ``mail`` (both must exist), with ``\n`` newlines."""
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None and html is not None, [p.get_content_type() for p in mail.walk()]
    return plain.get_content().replace("\r\n", "\n"), html.get_content().replace("\r\n", "\n")


def alternatives(mail: EmailMessage) -> list[str]:
    """Content types inside the ``multipart/alternative`` part, in order."""
    alt = next(p for p in mail.walk() if p.get_content_type() == "multipart/alternative")
    return [p.get_content_type() for p in alt.iter_parts()]


def replica(**fields: object) -> SessionReplica:
    """A session as the templates see it (not stored)."""
    starts = datetime(2027, 3, 27, 10, 0, tzinfo=UTC)  # 10:00 GMT
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "title": "Early maths in play",
        "starts_at": starts,
        "ends_at": starts + timedelta(hours=2),
        "venue": None,
        "online_url": None,
        "cancel_reason": None,
    }
    values.update(fields)
    return SessionReplica(**values)


def test_every_mail_has_text_and_html_and_escapes_the_html(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session(
        capacity=1,
        title=TITLE,
        venue="Hub room <1> & 2",
        online_url="https://meet.example.org/maths?a=1&b=2",
        format="hybrid",
    )
    first, second, third = (bookings_app.token(name=f"<b>P{i}</b>") for i in range(3))
    first_id = bookings_app.book(first, sess["id"]).get_json()["id"]  # Booked
    bookings_app.book(second, sess["id"])  # Waiting list
    bookings_app.client.post(  # Booking cancelled; the second is promoted
        f"/api/bookings/{first_id}/cancel", headers=bookings_app.headers(first)
    )
    bookings_app.book(third, sess["id"])  # Waiting list
    moved = sess["starts_at"] + timedelta(days=1)
    with bookings_app.db.transaction() as s:  # Moved: invite update, and plain to the list
        ops.apply_reschedule(
            s,
            bookings_app.settings,
            sess["id"],
            starts_at=moved,
            ends_at=moved + timedelta(hours=2),
            sequence=1,
        )
    run_at = moved - timedelta(hours=20)
    assert jobs.send_reminders(bookings_app.db, bookings_app.settings, now=run_at) == 1
    with bookings_app.db.transaction() as s:  # Cancelled by the hub: CANCEL, and plain
        ops.apply_session_cancelled(
            s, bookings_app.settings, sess["id"], reason="Flooded <img src=x onerror=alert(1)>"
        )

    mails = bookings_app.mails()
    kinds = {m["Subject"].split(":")[0] for m in mails}
    assert kinds == {
        "Booked",
        "Waiting list",
        "Booking cancelled",
        "A place came up",
        "Moved",
        "Reminder",
        "Cancelled by the hub",
    }
    for mail in mails:
        text, html = bodies(mail)
        invite = any(p.get_content_type() == "text/calendar" for p in mail.walk())
        expected = ["text/plain", "text/html"] + (["text/calendar"] if invite else [])
        assert alternatives(mail) == expected, mail["Subject"]
        assert TITLE in text and "&lt;" not in text
        assert SAFE_TITLE in html, mail["Subject"]
        assert "<script>" not in html and "<b>P" not in html and "<img" not in html
        assert "Hello &lt;b&gt;P" in html and "Hello <b>P" in text
        if mail["Subject"].split(":")[0] in ("Booked", "A place came up", "Moved", "Reminder"):
            assert "Venue: Hub room <1> & 2\n" in text
            assert "Join online: https://meet.example.org/maths?a=1&b=2\n" in text
            assert "Hub room &lt;1&gt; &amp; 2" in html
            assert '<a href="https://meet.example.org/maths?a=1&amp;b=2">' in html
    hub = [m for m in mails if m["Subject"].startswith("Cancelled by the hub")]
    assert len(hub) == 2
    for mail in hub:
        text, html = bodies(mail)
        assert "Reason: Flooded <img src=x onerror=alert(1)>" in text
        assert "Reason: Flooded &lt;img src=x onerror=alert(1)&gt;" in html


def test_where_partial_shows_venue_and_or_joining_link() -> None:
    venue = notify.render("confirmed", replica(venue="Hub room 1"), person="Pat")
    assert "When: Saturday 27 March 2027, 10:00 to 12:00 (UK time)\nVenue: Hub room 1\n\n" in (
        venue.text
    )
    assert "Join online" not in venue.text and "Join online" not in venue.html

    online = notify.render(
        "reminder", replica(online_url="https://meet.example.org/m"), person=None
    )
    assert "Hello there," in online.text
    assert "\nJoin online: https://meet.example.org/m\n" in online.text
    assert "Venue" not in online.text and "Venue" not in online.html
    assert '<a href="https://meet.example.org/m">' in online.html

    both = notify.render(
        "rescheduled",
        replica(venue="Hub room 1", online_url="https://meet.example.org/m"),
        person="Pat",
        invite=True,
    )
    assert "Venue: Hub room 1\nJoin online: https://meet.example.org/m\n" in both.text

    neither = notify.render("confirmed", replica(), person="Pat")
    assert "Venue" not in neither.text and "Join online" not in neither.text
    assert "(UK time)\n\nThe attached invite" in neither.text


def test_only_web_links_become_links() -> None:
    body = notify.render("confirmed", replica(online_url="javascript:alert(1)"), person="Pat")
    assert "<a " not in body.html
    assert "Join online:" in body.html and "javascript:alert(1)" in body.html


def test_mail_without_an_invite_says_so() -> None:
    """A waiting-list booking has nothing in the calendar to update or withdraw."""
    row = replica(cancel_reason="Trainer unwell")
    moved = notify.render("rescheduled", row, person="Pat", invite=False)
    assert "calendar" not in moved.text and "calendar" not in moved.html
    gone = notify.render("cancelled", row, person="Pat", by_hub=True, invite=False)
    assert "Reason: Trainer unwell\nYour booking is cancelled.\n" in gone.text
    assert "calendar" not in gone.html
    with_invite = notify.render("cancelled", row, person="Pat", by_hub=True, invite=True)
    assert "the invite is withdrawn from your calendar" in with_invite.text


def test_a_line_break_in_a_title_never_breaks_booking_or_its_mail(
    bookings_app: BookingsApp,
) -> None:
    """Issue 15: a title with CR/LF (from before the catalogue refused them, or any other
    way into the replica) went into the mail Subject and booking answered 500."""
    title = "Early maths\r\nBcc: everyone@example.org\u2028again"
    sess = bookings_app.add_session(title=title)
    user = uuid.uuid4()
    token = bookings_app.token(user)
    booked = bookings_app.book(token, sess["id"])
    assert booked.status_code == 201, booked.get_json()
    cancel = bookings_app.client.post(
        f"/api/bookings/{booked.get_json()['id']}/cancel", headers=bookings_app.headers(token)
    )
    assert cancel.status_code == 200, cancel.get_json()
    mails = bookings_app.mails(f"{str(user)[:8]}@example.org")
    assert len(mails) == 2
    for mail in mails:
        subject = mail["Subject"]
        assert "\n" not in subject and "\r" not in subject and "\u2028" not in subject
        assert "Early maths Bcc: everyone@example.org again" in subject
        assert mail["Bcc"] is None
