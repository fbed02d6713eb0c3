"""The replica follows the catalogue: reschedules, cancellations, capacity, event edits."""

from __future__ import annotations

from datetime import timedelta

from services.bookings import operations as ops
from tests.bookings.conftest import BookingsApp


def _fill(bookings_app: BookingsApp, session_id, n: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [bookings_app.book(bookings_app.token(), session_id).get_json()["id"] for _ in range(n)]


def test_capacity_raise_promotes_from_the_waiting_list(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session(capacity=2)
    ids = _fill(bookings_app, sess["id"], 5)
    with bookings_app.db.transaction() as s:
        ops.apply_session_snapshot(s, bookings_app.settings, {**sess, "capacity": 4})
    by_id = {str(b.id): b for b in bookings_app.bookings(sess["id"])}
    assert [by_id[i].status for i in ids] == ["confirmed"] * 4 + ["waitlisted"]
    assert by_id[ids[4]].waitlist_position == 1
    subjects = [m["Subject"] for m in bookings_app.mails(to=by_id[ids[2]].user_email)]
    assert subjects[-1] == "A place came up: Early maths in play"


def test_reschedule_updates_times_and_resends_invites(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session(capacity=1)
    ids = _fill(bookings_app, sess["id"], 2)
    new_start = sess["starts_at"] + timedelta(days=1)
    with bookings_app.db.transaction() as s:
        ops.apply_reschedule(
            s,
            bookings_app.settings,
            sess["id"],
            starts_at=new_start,
            ends_at=new_start + timedelta(hours=2),
            sequence=1,
        )
    replica = bookings_app.replica(sess["id"])
    assert replica.starts_at == new_start and replica.sequence == 1
    by_id = {str(b.id): b for b in bookings_app.bookings(sess["id"])}
    confirmed, waiting = by_id[ids[0]], by_id[ids[1]]
    assert confirmed.invite_sequence == 1
    assert bookings_app.mails(to=confirmed.user_email)[-1]["Subject"].startswith("Moved:")
    assert waiting.invite_sequence is None  # never had an invite; told by plain mail
    assert bookings_app.mails(to=waiting.user_email)[-1]["Subject"].startswith("Moved:")


def test_stale_or_repeated_reschedules_change_nothing(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session()
    _fill(bookings_app, sess["id"], 1)
    later = sess["starts_at"] + timedelta(days=2)
    earlier = sess["starts_at"] + timedelta(days=1)
    with bookings_app.db.transaction() as s:
        ops.apply_reschedule(
            s,
            bookings_app.settings,
            sess["id"],
            starts_at=later,
            ends_at=later + timedelta(hours=1),
            sequence=2,
        )
    mails = len(bookings_app.mails())
    for seq in (2, 1):  # a duplicate, then an older one arriving late
        with bookings_app.db.transaction() as s:
            assert (
                ops.apply_reschedule(
                    s,
                    bookings_app.settings,
                    sess["id"],
                    starts_at=earlier,
                    ends_at=earlier + timedelta(hours=1),
                    sequence=seq,
                )
                is None
            )
    # A late full snapshot (the original scheduled event) cannot move it back either.
    with bookings_app.db.transaction() as s:
        assert ops.apply_session_snapshot(s, bookings_app.settings, sess) is None
    assert bookings_app.replica(sess["id"]).starts_at == later
    assert len(bookings_app.mails()) == mails


def test_session_cancellation_cancels_every_booking(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session(capacity=1)
    ids = _fill(bookings_app, sess["id"], 3)
    with bookings_app.db.transaction() as s:
        ops.apply_session_cancelled(s, bookings_app.settings, sess["id"], reason="Trainer unwell")
    stored = bookings_app.bookings(sess["id"])
    assert {b.status for b in stored} == {"cancelled"}
    assert all(b.waitlist_position is None for b in stored)
    confirmed = next(b for b in stored if str(b.id) == ids[0])
    assert confirmed.previous_status == "confirmed" and confirmed.invite_sequence == 1
    mail = bookings_app.mails(to=confirmed.user_email)[-1]
    assert mail["Subject"] == "Cancelled by the hub: Early maths in play"
    assert "Trainer unwell" in mail.get_body(("plain",)).get_content()
    # Redelivery, and a late "scheduled" snapshot, do not revive it.
    mails = len(bookings_app.mails())
    with bookings_app.db.transaction() as s:
        assert ops.apply_session_cancelled(s, bookings_app.settings, sess["id"], reason="x") is None
        ops.apply_session_snapshot(s, bookings_app.settings, {**sess, "status": "scheduled"})
    assert bookings_app.replica(sess["id"]).status == "cancelled"
    assert len(bookings_app.mails()) == mails
    assert bookings_app.book(bookings_app.token(), sess["id"]).status_code == 409


def test_event_update_reaches_every_session_and_moves_invites_on_venue_change(
    bookings_app: BookingsApp,
) -> None:
    first = bookings_app.add_session()
    second = bookings_app.add_session(event_id=first["event_id"])
    (booking_id,) = _fill(bookings_app, second["id"], 1)
    with bookings_app.db.transaction() as s:
        applied = ops.apply_event_updated(
            s,
            bookings_app.settings,
            first["event_id"],
            {"title": "Maths through play", "venue": "The Library, Market Square"},
            changed_at=None,
        )
    assert len(applied) == 2
    assert bookings_app.replica(first["id"]).title == "Maths through play"
    booking = next(b for b in bookings_app.bookings(second["id"]) if str(b.id) == booking_id)
    assert booking.invite_sequence == 1
    assert (
        "The Library"
        in bookings_app.mails(to=booking.user_email)[-1].get_body(("plain",)).get_content()
    )


def test_event_unpublished_or_cancelled(bookings_app: BookingsApp) -> None:
    sess = bookings_app.add_session()
    _fill(bookings_app, sess["id"], 2)
    with bookings_app.db.transaction() as s:
        ops.apply_event_updated(
            s, bookings_app.settings, sess["event_id"], {"status": "cancelled"}, changed_at=None
        )
    assert {b.status for b in bookings_app.bookings(sess["id"])} == {"cancelled"}
