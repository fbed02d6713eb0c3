"""Refund intents, written in the transaction that decides them (cancellation, a late or
second payment, a hub lead's refund).

A refund is first a ``refunds`` row in state ``requested``, committed with the change
that made it due; ``payments.execute_refunds`` then asks Stripe, after commit, with the
row's id as the idempotency key, so a crash between the two never loses a refund and a
retry never pays one twice. ``Payment.refunded_pence`` counts every refund not failed,
so two refunds decided at once can never give back more than was paid.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.bookings.models import Booking, Payment, Refund
from shared.db import utcnow

#: Why money goes back (``Refund.reason``; the budget sees it on ``payment.refunded``).
CANCELLED_IN_TIME = "cancelled_in_time"
CANCELLED_BY_HUB = "cancelled_by_hub"
SESSION_CANCELLED = "session_cancelled"
PLACE_GONE = "place_gone"
DUPLICATE_PAYMENT = "duplicate_payment"
HUB_REFUND = "hub_refund"


def payments_of(s: Session, booking: Booking) -> list[Payment]:
    """The booking's payments, oldest first (a booking has one unless paid twice)."""
    return list(
        s.scalars(select(Payment).where(Payment.booking_id == booking.id).order_by(Payment.paid_at))
    )


def refundable(payment: Payment) -> int:
    return payment.amount_pence - payment.refunded_pence


def request(
    s: Session, booking: Booking, payment: Payment, amount: int, *, reason: str, by: str
) -> Refund:
    """Reserve ``amount`` of ``payment`` for a refund (the caller checked it is refundable)."""
    assert 0 < amount <= refundable(payment), "refund beyond what was paid"
    now = utcnow()
    refund = Refund(
        payment_id=payment.id,
        booking_id=booking.id,
        amount_pence=amount,
        status="requested",
        reason=reason,
        requested_by=by,
        created_at=now,
        updated_at=now,
    )
    s.add(refund)
    payment.refunded_pence += amount
    booking.refund_status = "pending"
    booking.updated_at = now
    return refund


def refund_all(s: Session, booking: Booking, *, reason: str, by: str) -> int:
    """Everything still refundable on the booking's payments; returns the pence."""
    total = 0
    for payment in payments_of(s, booking):
        amount = refundable(payment)
        if amount > 0:
            request(s, booking, payment, amount, reason=reason, by=by)
            total += amount
    return total


def in_time(booking: Booking, now: datetime) -> bool:
    """The event's rule: a full refund when cancelled at least N days before the start."""
    days = booking.session.refund_days_before
    return now <= booking.session.starts_at - timedelta(days=days)


def on_cancel(
    s: Session, booking: Booking, *, by: str, session_cancelled: bool, now: datetime
) -> int:
    """What a cancellation gives back: everything when the hub cancels (the session or
    the booking), the event's rule when the practitioner does. Returns the pence."""
    if not booking.paid_pence:
        return 0
    if session_cancelled:
        return refund_all(s, booking, reason=SESSION_CANCELLED, by=by)
    if by != booking.user_id:
        return refund_all(s, booking, reason=CANCELLED_BY_HUB, by=by)
    if in_time(booking, now):
        return refund_all(s, booking, reason=CANCELLED_IN_TIME, by=by)
    return 0


def due(s: Session, *, limit: int = 100) -> list[Refund]:
    """Refunds not yet accepted by Stripe, oldest first."""
    return list(
        s.scalars(
            select(Refund)
            .where(Refund.status == "requested")
            .order_by(Refund.created_at)
            .limit(limit)
        )
    )
