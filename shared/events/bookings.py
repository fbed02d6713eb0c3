"""Schemas of the ``bookings.*`` events (docs/architecture.md, "Event catalogue"): the
producer and consumers share them.

Fat events: each carries what budget needs without calling back (booking, session,
user, funding). Times are RFC 3339 UTC; money is integer pence.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

BOOKING_CONFIRMED = "bookings.booking.confirmed"
BOOKING_CANCELLED = "bookings.booking.cancelled"
ATTENDANCE_RECORDED = "bookings.attendance.recorded"
FUNDING_REQUESTED = "bookings.funding.requested"
PAYMENT_SUCCEEDED = "bookings.payment.succeeded"
PAYMENT_REFUNDED = "bookings.payment.refunded"

#: How a place is paid for: ``free`` session; ``unpaid`` (paid session, nothing paid
#: yet); ``paid`` by card; ``funded`` by the hub's budget.
FUNDING = ("free", "unpaid", "paid", "funded")
#: Budget lines a hub-funded place can be charged to (the budget service's lines).
BUDGET_LINES = ("training_delivery", "backfill", "mentoring", "venue", "resources", "other")


class _BookingRef(Schema):
    booking_id = fields.UUID(required=True)
    session_id = fields.UUID(required=True)
    event_id = fields.UUID(required=True)
    hub_id = fields.UUID(required=True)
    user_id = fields.String(required=True)
    funding = fields.String(required=True, validate=validate.OneOf(FUNDING))
    price_pence = fields.Integer(required=True, validate=validate.Range(min=0))


class BookingConfirmedData(_BookingRef):
    """A place is held: a new confirmed booking or a promotion from the waiting list."""

    user_email = fields.String(required=True)
    user_name = fields.String(required=True)
    setting_type = fields.String(allow_none=True)
    title = fields.String(required=True)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    cpd_hours = fields.Float(required=True)
    confirmed_at = fields.AwareDateTime(required=True)
    promoted = fields.Boolean(required=True)


class BookingCancelledData(_BookingRef):
    """A booking ended; ``previous_status`` says whether a place (or commitment) is freed."""

    previous_status = fields.String(required=True)
    cancelled_at = fields.AwareDateTime(required=True)
    cancelled_by = fields.String(required=True)
    reason = fields.String(allow_none=True)
    by_hub = fields.Boolean(required=True)
    refund_pence = fields.Integer(required=True, validate=validate.Range(min=0))


class AttendanceRecordedData(_BookingRef):
    """A hub lead recorded (or corrected) whether the practitioner came."""

    attended = fields.Boolean(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["attended", "no_show"]))
    cpd_hours = fields.Float(required=True)
    recorded_at = fields.AwareDateTime(required=True)


class FundingRequestedData(_BookingRef):
    """A practitioner asked the hub to pay for their place; the place is held meanwhile.

    Budget answers with ``budget.funding.committed`` or ``budget.funding.declined``.
    ``funded_places`` is the event's limit of hub-funded places (budget counts its own
    commitments per event against it).
    """

    setting_type = fields.String(allow_none=True)
    #: Setting types the event funds places for (empty: every setting type).
    eligible_setting_types = fields.List(fields.String(), required=True)
    amount_pence = fields.Integer(required=True, validate=validate.Range(min=0))
    line = fields.String(required=True, validate=validate.OneOf(BUDGET_LINES))
    funded_places = fields.Integer(required=True, validate=validate.Range(min=0))
    #: The session's start: its financial year (April to March, London) is charged.
    starts_at = fields.AwareDateTime(required=True)
    requested_at = fields.AwareDateTime(required=True)


class _Payment(_BookingRef):
    currency = fields.String(required=True, validate=validate.Length(equal=3))
    payment_intent = fields.String(required=True)
    charge = fields.String(allow_none=True)
    checkout_session = fields.String(allow_none=True)


class PaymentSucceededData(_Payment):
    """A card payment for a booking completed (Stripe Checkout)."""

    amount_pence = fields.Integer(required=True, validate=validate.Range(min=1))
    paid_at = fields.AwareDateTime(required=True)


class PaymentRefundedData(_Payment):
    """Money went back to the card: ``amount_pence`` this refund, ``refunded_pence`` in all."""

    refund_id = fields.String(required=True)
    amount_pence = fields.Integer(required=True, validate=validate.Range(min=1))
    refunded_pence = fields.Integer(required=True, validate=validate.Range(min=1))
    reason = fields.String(allow_none=True)
    refunded_at = fields.AwareDateTime(required=True)


SCHEMAS: dict[str, type[Schema]] = {
    BOOKING_CONFIRMED: BookingConfirmedData,
    BOOKING_CANCELLED: BookingCancelledData,
    ATTENDANCE_RECORDED: AttendanceRecordedData,
    FUNDING_REQUESTED: FundingRequestedData,
    PAYMENT_SUCCEEDED: PaymentSucceededData,
    PAYMENT_REFUNDED: PaymentRefundedData,
}
