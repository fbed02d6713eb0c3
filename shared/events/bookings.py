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

FUNDING = ("free", "unpaid", "card", "hub_funded")


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


SCHEMAS: dict[str, type[Schema]] = {
    BOOKING_CONFIRMED: BookingConfirmedData,
    BOOKING_CANCELLED: BookingCancelledData,
    ATTENDANCE_RECORDED: AttendanceRecordedData,
}
