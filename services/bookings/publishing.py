"""The bookings.* events, written to the outbox in the caller's transaction
(docs/architecture.md, "Messages").

Every state change another service cares about calls one of these; the messaging
layer's relay publishes the rows after commit, so an event exists if and only if
the change committed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from services.bookings.models import ATTENDED, Booking
from shared.db import utcnow
from shared.events import bookings as events
from shared.messaging.outbox import publish


def _ref(booking: Booking) -> dict[str, Any]:
    row = booking.session
    return {
        "booking_id": booking.id,
        "session_id": row.id,
        "event_id": row.event_id,
        "hub_id": row.hub_id,
        "user_id": booking.user_id,
        "funding": booking.funding,
        "price_pence": booking.price_pence,
    }


def confirmed_data(booking: Booking, *, promoted: bool) -> dict[str, Any]:
    row = booking.session
    return {
        **_ref(booking),
        "user_email": booking.user_email,
        "user_name": booking.user_name,
        "setting_type": booking.setting_type,
        "title": row.title,
        "starts_at": row.starts_at,
        "ends_at": row.ends_at,
        "cpd_hours": float(row.cpd_hours or 0),
        "confirmed_at": booking.confirmed_at or utcnow(),
        "promoted": promoted,
    }


def cancelled_data(booking: Booking) -> dict[str, Any]:
    return {
        **_ref(booking),
        "previous_status": booking.previous_status or "",
        "cancelled_at": booking.cancelled_at or utcnow(),
        "cancelled_by": booking.cancelled_by or "",
        "reason": booking.cancel_reason,
        "by_hub": booking.cancelled_by != booking.user_id,
        "refund_pence": 0,  # card refunds arrive with the payments issue
    }


def attendance_data(booking: Booking) -> dict[str, Any]:
    row = booking.session
    return {
        **_ref(booking),
        "attended": booking.status == ATTENDED,
        "status": booking.status,
        "cpd_hours": float(row.cpd_hours or 0),
        "recorded_at": booking.attendance_recorded_at or utcnow(),
    }


def _publish(s: Session, event_type: str, data: dict[str, Any]) -> None:
    payload = events.SCHEMAS[event_type]().dump(data)
    _emit(s, event_type, payload)


def _emit(s: Session, event_type: str, payload: dict[str, Any]) -> None:
    """Hand the event to the outbox, in the caller's transaction."""
    publish(s, event_type, payload)


def booking_confirmed(s: Session, booking: Booking, *, promoted: bool = False) -> None:
    """A place is held for ``booking`` (budget accounts for funded places)."""
    _publish(s, events.BOOKING_CONFIRMED, confirmed_data(booking, promoted=promoted))


def booking_cancelled(s: Session, booking: Booking) -> None:
    """``booking`` was cancelled (budget releases any commitment)."""
    _publish(s, events.BOOKING_CANCELLED, cancelled_data(booking))


def attendance_recorded(s: Session, booking: Booking) -> None:
    """A hub lead marked ``booking`` attended or no_show."""
    _publish(s, events.ATTENDANCE_RECORDED, attendance_data(booking))
