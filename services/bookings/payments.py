"""Card payments for paid sessions: Checkout, webhooks, held places, offers and refunds.

Every state change here follows one rule: decide in a database transaction, talk to
Stripe outside it. A paid booking holds its place (``pending_payment``) from the moment
it commits; its Checkout Session is made afterwards with the booking's own id in the
idempotency key. Stripe's word arrives three ways, all converging on the same functions:
the webhook (``handle_webhook``: each Stripe event id applied once), the worker's
``expire_holds`` (which asks Stripe before releasing anything, so a lost webhook never
cancels a paid place), and ``apply_completed`` being idempotent per Checkout Session.
Money that cannot buy a place (paid too late, paid twice, session cancelled) goes back
through a refund intent (services/bookings/refunds.py), never an overbooked session.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import stripe
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.bookings import notify, publishing, refunds, stripe_client
from services.bookings.models import (
    ATTENDED,
    CANCELLED,
    CONFIRMED,
    NO_SHOW,
    OFFERED,
    PENDING_PAYMENT,
    Booking,
    Payment,
    Refund,
    SessionReplica,
    StripeEvent,
)
from services.bookings.operations import (
    _active_booking,
    _shift_counts,
    can_manage,
    cancel_booking,
    conflict,
    lock_session,
    not_found,
    visible_booking,
)
from shared.auth import Identity
from shared.config import Settings
from shared.db import Database, utcnow
from shared.problems import Problem

log = logging.getLogger("eyhub.bookings.payments")

#: Who the system acts as when it cancels a hold or an offer.
PAYMENTS = "payments"
HOLD_RAN_OUT = "The time to pay ran out, so the place was released."
OFFER_LAPSED = "The offer was not taken up in time, so it passed to the next person."


def stripe_unavailable(booking_id: uuid.UUID) -> Problem:
    return Problem(
        503,
        "Payment service unavailable",
        f"Your place is held (booking {booking_id}), but we could not reach the card "
        f"payment service. Try paying again in a moment: POST /api/bookings/{booking_id}/checkout.",
        kind="payments-unavailable",
        headers={"Location": f"/api/bookings/{booking_id}", "Retry-After": "5"},
    )


# -- checkout ----------------------------------------------------------------------
def ensure_checkout(db: Database, settings: Settings, booking_id: uuid.UUID) -> Booking:
    """Give a ``pending_payment`` booking a Checkout Session that still takes payment.

    The live one is reused; otherwise a new one is made (idempotency key: the booking
    id and attempt number, so two concurrent calls get the same session). Raises a 503
    problem when Stripe is unreachable; the hold stays until it expires.
    """
    now = utcnow()
    with db.read() as s:
        booking = s.get(Booking, booking_id)
        if booking is None:
            raise not_found()
        if booking.status != PENDING_PAYMENT:
            return booking
        if booking.checkout_url and (booking.checkout_expires_at or now) > now:
            return booking
        attempt = booking.checkout_attempts + 1
        row = booking.session
        hold = booking.hold_expires_at or now
        request = {
            "idempotency_key": f"checkout-{booking.id}" + ("" if attempt == 1 else f"-{attempt}"),
            "booking_id": str(booking.id),
            "amount_pence": booking.price_pence,
            "title": row.title,
            "email": booking.user_email,
            "metadata": {
                "booking_id": str(booking.id),
                "session_id": str(row.id),
                "event_id": str(row.event_id),
                "hub_id": str(row.hub_id),
            },
            "success_url": f"{settings.public_url}/my-bookings?paid={booking.id}"
            "&checkout={CHECKOUT_SESSION_ID}",
            "cancel_url": f"{settings.public_url}/sessions/{row.id}?checkout=cancelled",
            "expires_at": stripe_client.checkout_expiry(hold, now),
        }
    try:
        checkout = stripe_client.create_checkout(settings, **request)
    except (stripe_client.StripeUnavailable, stripe.StripeError) as exc:
        log.warning("no checkout session", extra={"booking_id": str(booking_id), "error": str(exc)})
        raise stripe_unavailable(booking_id) from None
    with db.transaction() as s:
        booking = s.get(Booking, booking_id)
        assert booking is not None
        lock_session(s, booking.session_id)  # every change of a booking is under this lock
        s.refresh(booking)
        if booking.status == PENDING_PAYMENT and booking.checkout_attempts < attempt:
            booking.checkout_session_id = checkout.id
            booking.checkout_url = checkout.url
            booking.checkout_expires_at = checkout.expires_at
            booking.checkout_attempts = attempt
            booking.updated_at = utcnow()
        return booking


def accept_offer(db: Database, settings: Settings, who: Identity, booking_id: uuid.UUID) -> Booking:
    """Take an offered place: it is held for payment and gets a Checkout Session."""
    now = utcnow()
    with db.transaction() as s:
        booking = visible_booking(s, who, booking_id)
        if booking.user_id != who.user_id:
            raise Problem(403, "Forbidden", "Only the person offered the place can take it.")
        lock_session(s, booking.session_id)
        s.refresh(booking)
        if booking.status == OFFERED:
            if booking.hold_expires_at is not None and booking.hold_expires_at <= now:
                raise conflict("This offer has lapsed.", "offer-lapsed")
            booking.status = PENDING_PAYMENT
            booking.hold_expires_at = now + timedelta(seconds=settings.payment_hold_seconds)
            booking.updated_at = now
        elif booking.status != PENDING_PAYMENT:  # a repeated accept just pays
            raise conflict(f"A booking that is {booking.status} has no offer to accept.")
    return ensure_checkout(db, settings, booking_id)


def checkout_for(db: Database, settings: Settings, who: Identity, booking_id: uuid.UUID) -> Booking:
    """``POST /bookings/{id}/checkout``: the live session's URL, or a new session."""
    with db.read() as s:
        booking = visible_booking(s, who, booking_id)
        if booking.status != PENDING_PAYMENT:
            raise conflict(
                f"A booking that is {booking.status} has nothing to pay.", "nothing-to-pay"
            )
    return ensure_checkout(db, settings, booking_id)


def after_cancel(db: Database, settings: Settings, booking: Booking) -> Booking:
    """After a cancellation committed: send its refunds, and stop an unpaid Checkout
    Session taking money (best effort: a payment that still lands is refunded)."""
    if booking.previous_status == PENDING_PAYMENT and booking.checkout_session_id:
        with contextlib.suppress(stripe_client.StripeUnavailable, stripe.StripeError):
            stripe_client.expire_checkout(settings, booking.checkout_session_id)
    if booking.refund_status == "pending":
        execute_refunds(db, settings, booking_id=booking.id)
        with db.read() as s:
            return s.get(Booking, booking.id)  # type: ignore[return-value]
    return booking


# -- Stripe's word: payment, expiry --------------------------------------------------
def _first_time(s: Session, event_id: str | None, event_type: str) -> bool:
    """Record a Stripe event id; False when it was applied before (or is being now).

    The row is inserted before anything else in the transaction, so a concurrent
    duplicate waits on the primary key and then finds it.
    """
    if event_id is None:
        return True
    try:
        with s.begin_nested():
            s.add(StripeEvent(id=event_id, type=event_type, received_at=utcnow()))
            s.flush()
    except IntegrityError:
        return False
    return True


def _id(value: Any) -> str | None:
    """A Stripe reference that may be an id or an expanded object."""
    if value is None or isinstance(value, str):
        return value
    return str(value.get("id"))


def _booking_id(obj: Mapping[str, Any]) -> uuid.UUID | None:
    metadata = obj.get("metadata") or {}
    raw = obj.get("client_reference_id") or metadata.get("booking_id")
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        return None


def apply_completed(
    db: Database,
    settings: Settings,
    checkout: Mapping[str, Any],
    *,
    event_id: str | None = None,
    charge_id: str | None = None,
) -> str:
    """A Checkout Session was paid: confirm the place, or give the money back.

    Idempotent per Checkout Session (the job and the webhook may both bring it). A
    ``pending_payment`` booking is confirmed with a receipt and invite. A booking whose
    hold ran out gets its place back if one is free and nobody waits; otherwise (and
    when the booking was already paid, or the session cancelled) a full refund.
    """
    booking_id = _booking_id(checkout)
    if booking_id is None or checkout.get("payment_status") != "paid":
        return "ignored"
    now = utcnow()
    with db.transaction() as s:
        if not _first_time(s, event_id, "checkout.session.completed"):
            return "duplicate"
        booking = s.get(Booking, booking_id)
        if booking is None:
            log.warning("payment for an unknown booking", extra={"booking_id": str(booking_id)})
            return "ignored"
        row = lock_session(s, booking.session_id)
        assert row is not None
        s.refresh(booking)
        checkout_id = str(checkout["id"])
        if s.scalar(select(Payment.id).where(Payment.checkout_session_id == checkout_id)):
            return "duplicate"
        payment = Payment(
            booking_id=booking.id,
            checkout_session_id=checkout_id,
            payment_intent_id=_id(checkout.get("payment_intent")) or checkout_id,
            charge_id=charge_id,
            amount_pence=int(checkout.get("amount_total") or 0),
            currency=str(checkout.get("currency") or stripe_client.CURRENCY),
            paid_at=now,
        )
        s.add(payment)
        s.flush()
        booking.paid_pence += payment.amount_pence
        booking.updated_at = now
        publishing.payment_succeeded(s, booking, payment)
        if booking.status == PENDING_PAYMENT:
            _confirm_paid(s, settings, booking, now)
            notify.paid(s, settings, booking, payment)
            return "confirmed"
        if booking.status in (CONFIRMED, ATTENDED, NO_SHOW) and booking.funding == "paid":
            why = refunds.DUPLICATE_PAYMENT
        elif _reinstate(s, settings, booking, row, now):
            notify.paid(s, settings, booking, payment)
            return "reinstated"
        elif row.status == "cancelled" or row.event_status == "cancelled":
            why = refunds.SESSION_CANCELLED
        else:
            why = refunds.PLACE_GONE
        refunds.request(s, booking, payment, payment.amount_pence, reason=why, by=PAYMENTS)
        notify.payment_refunded(s, settings, booking, amount_pence=payment.amount_pence, why=why)
        return "refunding"


def _confirm_paid(s: Session, settings: Settings, booking: Booking, now: datetime) -> None:
    booking.status = CONFIRMED
    booking.funding = "paid"
    booking.confirmed_at = now
    booking.hold_expires_at = None
    booking.updated_at = now
    publishing.booking_confirmed(s, booking)


def _reinstate(
    s: Session, settings: Settings, booking: Booking, row: SessionReplica, now: datetime
) -> bool:
    """A payment that beat nobody: the hold ran out, but the place is still free and
    nobody is waiting for it, so the payer keeps it (the row is locked by the caller)."""
    if not (
        booking.status == CANCELLED
        and booking.previous_status == PENDING_PAYMENT
        and booking.cancelled_by == PAYMENTS
        and row.bookable_problem is None
        and row.held_count < row.capacity
        and row.waitlist_count == 0
        and _active_booking(s, booking.user_id, booking.session_id) is None
    ):
        return False
    booking.cancelled_at = booking.cancelled_by = booking.cancel_reason = None
    _confirm_paid(s, settings, booking, now)
    s.flush()
    _shift_counts(s, row, held=1)
    return True


def release_hold(
    db: Database,
    settings: Settings,
    booking_id: uuid.UUID,
    checkout_id: str | None,
    *,
    event_id: str | None = None,
    now: datetime | None = None,
) -> str:
    """Stripe will take no payment for this hold any more: free the place.

    Only a booking still ``pending_payment`` on that very Checkout Session is cancelled
    (an expiry of an older session, after a new one was made, changes nothing). The
    freed place goes to the waiting list (an offer, on a paid session).
    """
    with db.transaction() as s:
        if not _first_time(s, event_id, "checkout.session.expired"):
            return "duplicate"
        booking = s.get(Booking, booking_id)
        if booking is None:
            return "ignored"
        row = lock_session(s, booking.session_id)
        assert row is not None
        s.refresh(booking)
        if booking.status != PENDING_PAYMENT or booking.checkout_session_id != checkout_id:
            return "ignored"
        cancel_booking(
            s,
            settings,
            booking,
            row,
            by=PAYMENTS,
            reason="payment not completed",
            note=HOLD_RAN_OUT,
        )
        return "released"


def lapse_offer(db: Database, settings: Settings, booking_id: uuid.UUID, now: datetime) -> bool:
    """An offer not taken in time passes to the next person on the waiting list."""
    with db.transaction() as s:
        booking = s.get(Booking, booking_id)
        if booking is None:
            return False
        row = lock_session(s, booking.session_id)
        assert row is not None
        s.refresh(booking)
        if booking.status != OFFERED or (booking.hold_expires_at or now) > now:
            return False
        cancel_booking(
            s, settings, booking, row, by=PAYMENTS, reason="offer lapsed", note=OFFER_LAPSED
        )
        return True


def expire_holds(db: Database, settings: Settings, *, now: datetime | None = None) -> int:
    """The worker's sweep of holds and offers past due; returns how many it settled.

    A hold is never released on our clock alone: Stripe is asked first. A paid session
    (its webhook lost) is confirmed; an open one is expired at Stripe, then released;
    if Stripe cannot be reached, the hold waits, unless Stripe's own session has
    expired too (then no payment can arrive, and the place is freed anyway).
    """
    now = now or utcnow()
    with db.read() as s:
        due = s.execute(
            select(
                Booking.id, Booking.status, Booking.checkout_session_id, Booking.checkout_expires_at
            )
            .where(Booking.status.in_((PENDING_PAYMENT, OFFERED)), Booking.hold_expires_at <= now)
            .order_by(Booking.hold_expires_at)
            .limit(100)
        ).all()
    settled = 0
    for booking_id, status, checkout_id, checkout_expires_at in due:
        if status == OFFERED:
            settled += lapse_offer(db, settings, booking_id, now)
            continue
        if checkout_id is None:
            settled += release_hold(db, settings, booking_id, None, now=now) == "released"
            continue
        try:
            outcome = _settle_with_stripe(db, settings, booking_id, checkout_id, now)
        except stripe_client.StripeUnavailable:
            if checkout_expires_at is not None and checkout_expires_at < now:
                outcome = release_hold(db, settings, booking_id, checkout_id, now=now)
            else:
                continue
        settled += outcome in ("confirmed", "reinstated", "released", "refunding")
    return settled


def _settle_with_stripe(
    db: Database, settings: Settings, booking_id: uuid.UUID, checkout_id: str, now: datetime
) -> str:
    checkout = stripe_client.retrieve_checkout(settings, checkout_id)
    if checkout.status == "open":
        try:
            checkout = stripe_client.expire_checkout(settings, checkout_id)
        except stripe.InvalidRequestError:  # paid between our two calls
            checkout = stripe_client.retrieve_checkout(settings, checkout_id)
    if checkout.status == "complete":
        found = checkout.to_dict()
        charge = stripe_client.charge_of(settings, found.get("payment_intent"))
        return apply_completed(db, settings, found, charge_id=charge)
    return release_hold(db, settings, booking_id, checkout_id, now=now)


# -- refunds -----------------------------------------------------------------------
def refund_booking(
    db: Database,
    settings: Settings,
    who: Identity,
    booking_id: uuid.UUID,
    *,
    amount_pence: int | None,
) -> Booking:
    """A hub lead (or admin) gives back all or part of what was paid for a booking."""
    with db.transaction() as s:
        booking = visible_booking(s, who, booking_id)
        if not can_manage(who, booking.session):
            raise Problem(403, "Forbidden", "Only the hub's leads can refund a booking.")
        lock_session(s, booking.session_id)
        s.refresh(booking)
        payments = refunds.payments_of(s, booking)
        left = sum(refunds.refundable(p) for p in payments)
        if left <= 0:
            raise conflict("Nothing is left to refund on this booking.", "nothing-to-refund")
        amount = left if amount_pence is None else amount_pence
        if amount > left:
            raise Problem(
                422,
                "Invalid request",
                f"At most {left} pence can still be refunded on this booking.",
                kind="validation",
                errors={"json": {"amount_pence": [f"At most {left}."]}},
            )
        for payment in payments:
            part = min(amount, refunds.refundable(payment))
            if part > 0:
                refunds.request(
                    s, booking, payment, part, reason=refunds.HUB_REFUND, by=who.user_id
                )
                amount -= part
    execute_refunds(db, settings, booking_id=booking_id)
    with db.read() as s:
        return s.get(Booking, booking_id)  # type: ignore[return-value]


def execute_refunds(
    db: Database, settings: Settings, *, booking_id: uuid.UUID | None = None
) -> int:
    """Ask Stripe for every refund still ``requested`` (after the commit that made them).

    The refund row's id is the idempotency key: a retry after a crash or a timeout
    gets Stripe's first answer, never a second refund. Unreachable Stripe: left for the
    next run. Stripe refusing (e.g. the charge was refunded in its Dashboard): failed.
    """
    with db.read() as s:
        query = (
            select(Refund, Payment, SessionReplica.hub_id)
            .join(Payment, Refund.payment_id == Payment.id)
            .join(Booking, Refund.booking_id == Booking.id)
            .join(SessionReplica, Booking.session_id == SessionReplica.id)
        )
        query = query.where(Refund.status == "requested").order_by(Refund.created_at).limit(100)
        if booking_id is not None:
            query = query.where(Refund.booking_id == booking_id)
        work = [
            (r.id, r.booking_id, p.payment_intent_id, r.amount_pence, hub)
            for r, p, hub in s.execute(query)
        ]
    done = 0
    for refund_id, for_booking, payment_intent, amount, hub_id in work:
        try:
            result = stripe_client.create_refund(
                settings,
                idempotency_key=f"refund-{refund_id}",
                payment_intent=payment_intent,
                amount_pence=amount,
                # The hub, so reconciliation finds the refund without its charge.
                metadata={
                    "booking_id": str(for_booking),
                    "refund_id": str(refund_id),
                    "hub_id": str(hub_id),
                },
            )
        except stripe.InvalidRequestError as exc:
            log.error(
                "stripe refused a refund", extra={"refund_id": str(refund_id), "error": str(exc)}
            )
            _refund_state(db, settings, refund_id, stripe_id=None, status="failed")
            continue
        except stripe_client.StripeUnavailable:
            continue
        _refund_state(db, settings, refund_id, stripe_id=result.id, status=result.status)
        done += 1
    return done


def _status(stripe_status: str | None) -> str:
    if stripe_status == "succeeded":
        return "succeeded"
    if stripe_status in ("failed", "canceled"):
        return "failed"
    return "pending"


def _refund_state(
    db: Database,
    settings: Settings,
    refund_id: uuid.UUID,
    *,
    stripe_id: str | None,
    status: str | None,
) -> None:
    with db.transaction() as s:
        refund = s.get(Refund, refund_id)
        assert refund is not None
        booking = s.get(Booking, refund.booking_id)
        assert booking is not None
        lock_session(s, booking.session_id)
        s.refresh(refund)
        s.refresh(booking)
        _move_refund(s, booking, refund, stripe_id=stripe_id, status=_status(status))


def _move_refund(
    s: Session, booking: Booking, refund: Refund, *, stripe_id: str | None, status: str
) -> None:
    """Apply a refund's new state once: money counted when it succeeds, released if it fails."""
    if stripe_id and refund.stripe_refund_id is None:
        refund.stripe_refund_id = stripe_id
    if refund.status in ("succeeded", "failed") or refund.status == status:
        return  # final states stay; the same news twice changes nothing
    payment = s.get(Payment, refund.payment_id)
    assert payment is not None
    refund.status = status
    refund.updated_at = utcnow()
    if status == "succeeded":
        booking.refunded_pence += refund.amount_pence
        s.flush()
        publishing.payment_refunded(s, booking, payment, refund)
    elif status == "failed":
        payment.refunded_pence -= refund.amount_pence
    booking.refund_status = _booking_refund_status(s, booking)
    booking.updated_at = utcnow()


def _booking_refund_status(s: Session, booking: Booking) -> str:
    s.flush()
    states = list(
        s.scalars(
            select(Refund.status).where(Refund.booking_id == booking.id).order_by(Refund.created_at)
        )
    )
    if not states:
        return "none"
    if any(st in ("requested", "pending") for st in states):
        return "pending"
    return states[-1]


def apply_refund_object(
    db: Database, settings: Settings, refund: Mapping[str, Any], *, event_id: str | None
) -> str:
    """Stripe's news of one refund (``refund.*`` events, or a charge's refund list).

    Ours are found by their Stripe id or the ``refund_id`` we put in their metadata; a
    refund made in Stripe's Dashboard is recorded too, so the booking shows it.
    """
    stripe_id = str(refund["id"])
    ours = (refund.get("metadata") or {}).get("refund_id")
    payment_intent = _id(refund.get("payment_intent"))
    with db.transaction() as s:
        if not _first_time(s, event_id, "refund"):
            return "duplicate"
        row = s.scalar(select(Refund).where(Refund.stripe_refund_id == stripe_id))
        if row is None and ours:
            try:
                row = s.get(Refund, uuid.UUID(str(ours)))
            except ValueError:
                row = None
        payment = (
            s.get(Payment, row.payment_id)
            if row is not None
            else s.scalar(select(Payment).where(Payment.payment_intent_id == payment_intent))
        )
        if payment is None:
            return "ignored"
        booking = s.get(Booking, payment.booking_id)
        assert booking is not None
        lock_session(s, booking.session_id)
        s.refresh(booking)
        if row is None:  # made outside eyhub: record it, as it is now
            amount = int(refund.get("amount") or 0)
            if amount <= 0 or amount > refunds.refundable(payment):
                return "ignored"
            row = refunds.request(
                s, booking, payment, amount, reason="stripe_dashboard", by="stripe"
            )
            s.flush()
        else:
            s.refresh(row)
        _move_refund(s, booking, row, stripe_id=stripe_id, status=_status(refund.get("status")))
        return "applied"


# -- the webhook -------------------------------------------------------------------
class BadSignature(Exception):
    """The request is not a Stripe event signed with our endpoint's secret."""


def handle_webhook(db: Database, settings: Settings, payload: bytes, signature: str | None) -> str:
    """Verify, then apply one Stripe event once; unknown types are acknowledged and ignored.

    Only database work happens here (answered within a second); refunds it decides are
    sent to Stripe by the worker after commit.
    """
    try:
        event = stripe_client.construct_event(settings, payload, signature)
    except (stripe.SignatureVerificationError, ValueError) as exc:
        raise BadSignature(str(exc)) from None
    obj: dict[str, Any] = event.data.object.to_dict()
    kind = event.type
    if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        try:  # the charge id helps reconciliation; the payment stands without it
            charge = stripe_client.charge_of(settings, obj.get("payment_intent"))
        except (stripe_client.StripeUnavailable, stripe.StripeError):
            charge = None
        return apply_completed(db, settings, obj, event_id=event.id, charge_id=charge)
    if kind == "checkout.session.expired":
        booking_id = _booking_id(obj)
        if booking_id is None:
            return "ignored"
        return release_hold(db, settings, booking_id, str(obj["id"]), event_id=event.id)
    if kind == "charge.refunded":
        listed = (obj.get("refunds") or {}).get("data") or []
        outcomes = [apply_refund_object(db, settings, r, event_id=None) for r in listed]
        with db.transaction() as s:
            _first_time(s, event.id, kind)
        return "applied" if outcomes else "ignored"
    if kind in ("refund.created", "refund.updated", "refund.failed"):
        return apply_refund_object(db, settings, obj, event_id=event.id)
    return "ignored"
