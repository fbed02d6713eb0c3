"""bookings.* events: which changes emit them and that their data fits the shared schemas."""

from __future__ import annotations

from typing import Any

import pytest

from services.bookings import publishing
from shared.events import bookings as events
from tests.bookings.conftest import BookingsApp


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    seen: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(publishing, "_emit", lambda _s, t, payload: seen.append((t, payload)))
    return seen


def test_confirm_promote_cancel_and_attendance_emit_events(
    bookings_app: BookingsApp, emitted: list[tuple[str, dict[str, Any]]]
) -> None:
    sess = bookings_app.add_session(capacity=1)
    a, b = bookings_app.token(), bookings_app.token()
    first = bookings_app.book(a, sess["id"]).get_json()["id"]
    second = bookings_app.book(b, sess["id"]).get_json()["id"]  # waitlisted: no event
    assert [t for t, _ in emitted] == [events.BOOKING_CONFIRMED]
    bookings_app.client.post(f"/api/bookings/{first}/cancel", headers=bookings_app.headers(a))
    assert [t for t, _ in emitted] == [
        events.BOOKING_CONFIRMED,
        events.BOOKING_CANCELLED,
        events.BOOKING_CONFIRMED,
    ]
    bookings_app.set_past(sess["id"])
    bookings_app.client.post(
        f"/api/bookings/sessions/{sess['id']}/attendance",
        json={"records": [{"booking_id": second, "attended": True}]},
        headers=bookings_app.headers(bookings_app.lead_token()),
    )
    assert emitted[-1][0] == events.ATTENDANCE_RECORDED
    for event_type, payload in emitted:  # every payload loads with the shared schema
        events.SCHEMAS[event_type]().load(payload)
    cancelled = emitted[1][1]
    assert (cancelled["booking_id"], cancelled["previous_status"]) == (first, "confirmed")
    assert cancelled["by_hub"] is False
    promoted = emitted[2][1]
    assert promoted["booking_id"] == second and promoted["promoted"] is True
    assert promoted["hub_id"] == str(sess["hub_id"]) and promoted["starts_at"].endswith("+00:00")
    assert emitted[-1][1]["attended"] is True and emitted[-1][1]["cpd_hours"] == 2.0


def test_events_are_written_to_the_outbox_with_the_change(bookings_app: BookingsApp) -> None:
    from sqlalchemy import select

    from shared.messaging.models import OutboxMessage

    sess = bookings_app.add_session(capacity=1)
    token = bookings_app.token()
    booking_id = bookings_app.book(token, sess["id"]).get_json()["id"]
    bookings_app.book(token, sess["id"])  # 409: nothing written
    with bookings_app.db.transaction() as s:
        rows = list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.position)))
    assert [(r.event_type, r.data["booking_id"]) for r in rows] == [
        (events.BOOKING_CONFIRMED, booking_id)
    ]
