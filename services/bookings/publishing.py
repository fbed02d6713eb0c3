"""The bookings.* events, written to the outbox in the caller's transaction
(docs/architecture.md, "Messages").

Every state change another service cares about calls one of these; the messaging
layer's relay publishes the rows after commit, so an event exists if and only if
the change committed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from services.bookings.models import ATTENDED, Booking, Payment, Refund
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


def cancelled_data(booking: Booking, *, refund_pence: int = 0) -> dict[str, Any]:
    return {
        **_ref(booking),
        "previous_status": booking.previous_status or "",
        "cancelled_at": booking.cancelled_at or utcnow(),
        "cancelled_by": booking.cancelled_by or "",
        "reason": booking.cancel_reason,
        "by_hub": booking.cancelled_by != booking.user_id,
        "refund_pence": refund_pence,
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


def booking_cancelled(s: Session, booking: Booking, *, refund_pence: int = 0) -> None:
    """``booking`` was cancelled (budget releases any commitment); ``refund_pence`` is
    what goes back to the card (its ``payment.refunded`` follows when Stripe confirms)."""
    _publish(s, events.BOOKING_CANCELLED, cancelled_data(booking, refund_pence=refund_pence))


def attendance_recorded(s: Session, booking: Booking) -> None:
    """A hub lead marked ``booking`` attended or no_show."""
    _publish(s, events.ATTENDANCE_RECORDED, attendance_data(booking))


def _payment_ref(booking: Booking, payment: Payment) -> dict[str, Any]:
    return {
        **_ref(booking),
        "currency": payment.currency,
        "payment_intent": payment.payment_intent_id,
        "charge": payment.charge_id,
        "checkout_session": payment.checkout_session_id,
    }


def payment_succeeded(s: Session, booking: Booking, payment: Payment) -> None:
    """Card money came in for ``booking`` (budget books it as income), even when it must
    go back (a late or second payment: its refund follows as ``payment.refunded``)."""
    data = {
        **_payment_ref(booking, payment),
        "amount_pence": payment.amount_pence,
        "paid_at": payment.paid_at,
    }
    _publish(s, events.PAYMENT_SUCCEEDED, data)


def payment_refunded(s: Session, booking: Booking, payment: Payment, refund: Refund) -> None:
    """Stripe confirmed ``refund`` (budget books it against the income)."""
    data = {
        **_payment_ref(booking, payment),
        "refund_id": refund.stripe_refund_id,
        "amount_pence": refund.amount_pence,
        "refunded_pence": booking.refunded_pence,
        "reason": refund.reason,
        "refunded_at": refund.updated_at,
    }
    _publish(s, events.PAYMENT_REFUNDED, data)


def funding_requested(s: Session, booking: Booking) -> None:
    """``booking`` holds a place while the hub's budget decides whether to pay for it."""
    row = booking.session
    data = {
        **_ref(booking),
        "setting_type": booking.setting_type,
        "eligible_setting_types": list(row.funded_setting_types or []),
        "amount_pence": row.cost_per_funded_place_pence or 0,
        "line": row.funding_line or "backfill",
        "funded_places": row.funded_places or 0,
        "starts_at": row.starts_at,
        "requested_at": booking.created_at,
    }
    _publish(s, events.FUNDING_REQUESTED, data)
