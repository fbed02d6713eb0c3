"""Request and response bodies of the bookings API (marshmallow; documented in OpenAPI).

Text a client sends is a ``shared.fields.Text`` (bounded, NFC, no control characters);
enums and ranges are stated in the OpenAPI as they are enforced here.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.bookings.models import STATUSES
from shared.fields import Text, UTCDateTime
from shared.pagination import Cursor, NextCursor


class BookingCreateSchema(Schema):
    session_id = fields.UUID(required=True)
    request_funding = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Ask the hub to pay for the place (``pending_funding`` until its "
            "budget answers: ``confirmed`` with funding ``funded``, or ``funding_declined``)."
        },
    )


class SessionBriefSchema(Schema):
    id = fields.UUID()
    event_id = fields.UUID()
    hub_id = fields.UUID()
    title = fields.String()
    kind = fields.String()
    format = fields.String()
    starts_at = UTCDateTime()
    ends_at = UTCDateTime()
    status = fields.String()
    venue = fields.String(allow_none=True)
    online_url = fields.String(allow_none=True)
    cpd_hours = fields.Float()
    price_pence = fields.Integer()
    refund_days_before = fields.Integer()


class BookingSchema(Schema):
    id = fields.UUID()
    session_id = fields.UUID()
    user_id = fields.String()
    status = fields.String()
    waitlist_position = fields.Integer(allow_none=True)
    funding = fields.String()
    price_pence = fields.Integer()
    checkout_url = fields.String(
        allow_none=True,
        metadata={"description": "Where to pay (``pending_payment``): Stripe Checkout."},
    )
    hold_expires_at = UTCDateTime(
        allow_none=True,
        metadata={"description": "When an unpaid hold or an unanswered offer lets the place go."},
    )
    paid_pence = fields.Integer()
    refunded_pence = fields.Integer()
    refund_status = fields.String(metadata={"description": "none, pending, succeeded or failed"})
    refund_if_cancelled_pence = fields.Integer(
        metadata={"description": "What cancelling now would refund, by the event's rule."}
    )
    created_at = UTCDateTime()
    updated_at = UTCDateTime()
    confirmed_at = UTCDateTime(allow_none=True)
    cancelled_at = UTCDateTime(allow_none=True)
    session = fields.Nested(SessionBriefSchema)


class BookingPageSchema(Schema):
    items = fields.List(fields.Nested(BookingSchema))
    next_cursor = NextCursor()


class BookingListQuerySchema(Schema):
    session_id = fields.UUID()
    status = fields.String(validate=validate.OneOf(STATUSES))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = Cursor()


class RefundSchema(Schema):
    amount_pence = fields.Integer(
        validate=validate.Range(min=1, max=10_000_000),
        metadata={"description": "Part of what was paid; leave out to refund all that is left."},
    )


class WebhookReceiptSchema(Schema):
    received = fields.Boolean()
    outcome = fields.String()


class CancelSchema(Schema):
    reason = Text(max_length=1000, multiline=True)


class AvailabilitySchema(Schema):
    session_id = fields.UUID()
    capacity = fields.Integer()
    confirmed = fields.Integer()
    waitlisted = fields.Integer()
    remaining = fields.Integer()


class HubAvailabilityQuerySchema(Schema):
    since = UTCDateTime(
        data_key="from",
        metadata={"description": "Sessions ending after this (default: 31 days ago)."},
    )
    limit = fields.Integer(load_default=500, validate=validate.Range(min=1, max=1000))


class HubAvailabilitySchema(Schema):
    items = fields.List(fields.Nested(AvailabilitySchema))


class RosterEntrySchema(Schema):
    booking_id = fields.UUID()
    user_id = fields.String()
    name = fields.String()
    email = fields.String()
    setting_type = fields.String(allow_none=True)
    status = fields.String()
    waitlist_position = fields.Integer(allow_none=True)
    booked_at = UTCDateTime()


class RosterSchema(Schema):
    session = fields.Nested(SessionBriefSchema)
    capacity = fields.Integer()
    confirmed = fields.Integer()
    waitlisted = fields.Integer()
    items = fields.List(fields.Nested(RosterEntrySchema))


class FormatQuerySchema(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


class AttendanceRecordSchema(Schema):
    booking_id = fields.UUID(required=True)
    attended = fields.Boolean(required=True)


class AttendanceSchema(Schema):
    records = fields.List(
        fields.Nested(AttendanceRecordSchema),
        required=True,
        validate=validate.Length(min=1, max=1000),
        metadata={"description": "Each booking at most once.", "uniqueItems": True},
    )

    @validates_schema
    def _unique(self, data: dict[str, Any], **_kw: Any) -> None:
        ids = [r["booking_id"] for r in data.get("records", [])]
        if len(ids) != len(set(ids)):
            raise ValidationError("Each booking may appear once.", "records")


class AttendanceResultSchema(Schema):
    items = fields.List(fields.Nested(BookingSchema))


class CpdItemSchema(Schema):
    booking_id = fields.UUID()
    session_id = fields.UUID()
    title = fields.String()
    kind = fields.String()
    hub_id = fields.UUID()
    topics = fields.List(fields.String())
    starts_at = UTCDateTime()
    ends_at = UTCDateTime()
    hours = fields.Float()
    year = fields.String()
    feedback_given = fields.Boolean(metadata={"description": "Whether you gave feedback."})


class CpdRecordSchema(Schema):
    total_hours = fields.Float()
    by_topic = fields.Dict(keys=fields.String(), values=fields.Float())
    by_year = fields.Dict(keys=fields.String(), values=fields.Float())
    items = fields.List(fields.Nested(CpdItemSchema))


class FeedbackCreateSchema(Schema):
    rating = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))
    comment = Text(max_length=4000, multiline=True)


class FeedbackSchema(Schema):
    id = fields.UUID()
    booking_id = fields.UUID()
    session_id = fields.UUID()
    rating = fields.Integer()
    comment = fields.String(allow_none=True)
    created_at = UTCDateTime()


class FeedbackSummarySchema(Schema):
    session_id = fields.UUID()
    responses = fields.Integer()
    average_rating = fields.Float(allow_none=True)
    ratings = fields.Dict(keys=fields.String(), values=fields.Integer())
    comments = fields.List(fields.String(), allow_none=True)
    comments_withheld = fields.Boolean()


class FeedCreateSchema(Schema):
    scope = fields.String(required=True, validate=validate.OneOf(["me", "hub"]))
    hub_id = fields.UUID()

    @validates_schema
    def _hub(self, data: dict[str, Any], **_kw: Any) -> None:
        if data.get("scope") == "hub" and not data.get("hub_id"):
            raise ValidationError("A hub feed needs hub_id.", "hub_id")
        if data.get("scope") == "me" and data.get("hub_id"):
            raise ValidationError("Only a hub feed takes hub_id.", "hub_id")


class FeedQuerySchema(Schema):
    hub_id = fields.UUID(metadata={"description": "A hub's feeds (its leads and admins)."})
    user_id = fields.UUID(metadata={"description": "One person's feeds (admins)."})
    everyone = fields.Boolean(
        load_default=False, metadata={"description": "Every live feed (admins)."}
    )


class FeedSchema(Schema):
    id = fields.UUID()
    user_id = fields.String(metadata={"description": "Who created the feed."})
    scope = fields.String()
    hub_id = fields.UUID(allow_none=True)
    created_at = UTCDateTime()
    url = fields.String()


class FeedListSchema(Schema):
    items = fields.List(fields.Nested(FeedSchema))
    next_cursor = NextCursor()
