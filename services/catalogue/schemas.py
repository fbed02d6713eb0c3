"""Request and response bodies of the catalogue API (marshmallow; documented in OpenAPI).

Every limit a client can hit is here, so bad input is a 422 problem naming the field,
never a database error: bounded text (``shared.fields.Text``: no control characters, and
no line breaks in one-line fields such as a title, which goes into mail subjects), enum
values, integer ranges, times with an offset and within a sane range. Each limit is also
stated in the OpenAPI (enum, minLength/maxLength, minimum/maximum, pattern,
uniqueItems), so a client generated from it sends requests this API takes.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.catalogue.models import EVENT_STATUSES, FORMATS, KINDS
from shared.events.bookings import BUDGET_LINES
from shared.fields import Text, UTCDateTime
from shared.pagination import Cursor, NextCursor
from shared.vocabulary import SETTING_TYPES, TOPICS

MAX_SESSION = timedelta(hours=12)
#: An ends_at for the examples: two hours after shared.fields.EXAMPLE (a valid pair).
ENDS_EXAMPLE = "2027-03-01T11:30:00Z"
_ENDS = "After starts_at, at most 12 hours later."
#: Topics are an extensible vocabulary: known ones or any short slug.
TOPIC_PATTERN = r"^[a-z][a-z0-9_]{1,39}$"
TOPIC_SLUG = re.compile(TOPIC_PATTERN)
#: What validate.URL(schemes={"http", "https"}, require_tld=False) takes, for the
#: OpenAPI: a host name (dotted names end in a label of 2+ characters), a port, a path.
URL_PATTERN = (
    r"^https?://(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
    r"|[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?::[0-9]{1,5})?(?:/[!-~]*)?$"
)
#: The documented form of a series rule (services/catalogue/recurrence.py also reads
#: BYDAY, BYMONTHDAY, WKST and BYSETPOS, in any order): FREQ, an optional INTERVAL, then
#: COUNT or UNTIL, with the values it accepts.
RRULE_PATTERN = (
    r"^FREQ=(?:DAILY|WEEKLY|MONTHLY)(?:;INTERVAL=(?:[1-9]|[1-4][0-9]|5[0-2]))?"
    r";(?:COUNT=(?:[1-9]|[1-5][0-9]|60)|UNTIL=20[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9])"
    r"(?:T(?:[01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]Z?)?)$"
)


def _text(
    max_len: int, *, required: bool = False, min_len: int = 0, multiline: bool = False, **kw: Any
) -> Text:
    return Text(
        required=required, min_length=min_len, max_length=max_len, multiline=multiline, **kw
    )


def _int(low: int, high: int, **kw: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=low, max=high), **kw)


def _topic() -> Text:
    return Text(
        max_length=40,
        validate=validate.Regexp(
            TOPIC_SLUG, error="A topic is a lower-case slug like 'early_reading'."
        ),
        metadata={"pattern": TOPIC_PATTERN},
    )


def _url(**kw: Any) -> Text:
    return Text(
        max_length=500,
        validate=validate.URL(schemes={"http", "https"}, require_tld=False),
        metadata={"format": "uri", "pattern": URL_PATTERN},
        **kw,
    )


# -- hubs ---------------------------------------------------------------------------
class HubCreateSchema(Schema):
    name = _text(200, required=True, min_len=3)
    region = _text(100, required=True, min_len=2)
    host_setting = _text(200, allow_none=True, load_default=None)
    eip = _text(
        200,
        allow_none=True,
        load_default=None,
        metadata={
            "description": "The Education Improvement Partnership the hub belongs to, if any."
        },
    )


class HubSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    region = fields.String()
    host_setting = fields.String(allow_none=True)
    eip = fields.String(allow_none=True)


class HubListSchema(Schema):
    items = fields.List(fields.Nested(HubSchema))
    next_cursor = NextCursor()


# -- events -------------------------------------------------------------------------
class _EventFieldsSchema(Schema):
    """What an event says; PATCH reuses it with every field optional."""

    title = _text(200, min_len=3, metadata={"description": "One line (it is a mail subject)."})
    kind = fields.String(validate=validate.OneOf(KINDS))
    summary = _text(500, multiline=True)
    description = _text(10_000, multiline=True)
    format = fields.String(validate=validate.OneOf(FORMATS))
    audience = fields.List(
        fields.String(validate=validate.OneOf(SETTING_TYPES)),
        validate=validate.Length(min=1, max=len(SETTING_TYPES)),
        metadata={
            "description": "Setting types the event is for (at least one).",
            "uniqueItems": True,
        },
    )
    topics = fields.List(
        _topic(),
        validate=validate.Length(max=13),
        metadata={
            "description": "Known topics: " + ", ".join(TOPICS) + "; or any lower-case slug.",
            "uniqueItems": True,
        },
    )
    cpd_hours = fields.Float(
        validate=validate.Range(min=0, max=40, min_inclusive=False),
        metadata={
            "description": "CPD hours per session, more than 0 and at most 40.",
            "exclusiveMinimum": True,
        },
    )
    price_pence = _int(0, 1_000_000)
    funded_places = _int(0, 10_000, metadata={"description": "Places the hub pays for."})
    cost_per_funded_place_pence = _int(0, 1_000_000)
    funding_line = fields.String(
        validate=validate.OneOf(BUDGET_LINES),
        metadata={"description": "Budget line a hub-funded place is charged to."},
    )
    funded_setting_types = fields.List(
        fields.String(validate=validate.OneOf(SETTING_TYPES)),
        validate=validate.Length(max=len(SETTING_TYPES)),
        metadata={
            "description": "Setting types the hub funds places for (empty: all).",
            "uniqueItems": True,
        },
    )
    refund_days_before = _int(
        0,
        365,
        metadata={
            "description": "Full refund when a practitioner cancels at least this many days before."
        },
    )
    capacity = _int(1, 10_000, metadata={"description": "Default capacity of new sessions."})
    venue = _text(300, allow_none=True)
    online_url = _url(allow_none=True)

    @validates_schema
    def _unique_lists(self, data: dict[str, Any], **_kw: Any) -> None:
        for name in ("audience", "topics", "funded_setting_types"):
            values = data.get(name)
            if values is not None and len(set(values)) != len(values):
                raise ValidationError("Each value may appear once.", name)


class EventCreateSchema(_EventFieldsSchema):
    hub_id = fields.UUID(required=True)

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        # Creation needs the core fields; the rest have defaults.
        if field_name in ("title", "kind", "format", "audience", "cpd_hours", "capacity"):
            field_obj.required = True
        defaults = {
            "summary": "",
            "description": "",
            "topics": list,
            "price_pence": 0,
            "funded_places": 0,
            "cost_per_funded_place_pence": 0,
            "funding_line": "backfill",
            "funded_setting_types": list,
            "refund_days_before": 7,
            "venue": None,
            "online_url": None,
        }
        if field_name in defaults:
            field_obj.load_default = defaults[field_name]


class EventUpdateSchema(_EventFieldsSchema):
    """Any subset of the event's fields; the result must still be a valid event."""


class SessionBriefSchema(Schema):
    id = fields.UUID()
    starts_at = UTCDateTime()
    ends_at = UTCDateTime()
    capacity = fields.Integer()
    status = fields.String()
    sequence = fields.Integer()
    venue = fields.String(allow_none=True)
    series_id = fields.UUID(allow_none=True)
    cancel_reason = fields.String(allow_none=True)


class EventSummarySchema(Schema):
    id = fields.UUID()
    hub_id = fields.UUID()
    hub_name = fields.String()
    title = fields.String()
    kind = fields.String()
    summary = fields.String()
    description = fields.String()
    format = fields.String()
    audience = fields.List(fields.String())
    topics = fields.List(fields.String())
    cpd_hours = fields.Float()
    price_pence = fields.Integer()
    funded_places = fields.Integer()
    cost_per_funded_place_pence = fields.Integer()
    funding_line = fields.String()
    funded_setting_types = fields.List(fields.String())
    refund_days_before = fields.Integer()
    capacity = fields.Integer()
    venue = fields.String(allow_none=True)
    online_url = fields.String(allow_none=True)
    status = fields.String()
    cancel_reason = fields.String(allow_none=True)
    created_at = UTCDateTime()
    updated_at = UTCDateTime()
    published_at = UTCDateTime(allow_none=True)
    cancelled_at = UTCDateTime(allow_none=True)


class EventSchema(EventSummarySchema):
    sessions = fields.List(fields.Nested(SessionBriefSchema))


# -- sessions -----------------------------------------------------------------------
def _check_times(starts_at: datetime | None, ends_at: datetime | None) -> None:
    if starts_at is None or ends_at is None:
        return
    if ends_at <= starts_at:
        raise ValidationError("Must be after starts_at.", "ends_at")
    if ends_at - starts_at > MAX_SESSION:
        raise ValidationError("A session lasts at most 12 hours.", "ends_at")


class SessionCreateSchema(Schema):
    starts_at = UTCDateTime(required=True)
    ends_at = UTCDateTime(required=True, metadata={"example": ENDS_EXAMPLE, "description": _ENDS})
    capacity = _int(1, 10_000, metadata={"description": "Defaults to the event's capacity."})
    venue = _text(300, allow_none=True, metadata={"description": "Defaults to the event's."})
    rrule = _text(
        500,
        metadata={
            "pattern": RRULE_PATTERN,
            "description": "Make a series: FREQ=DAILY|WEEKLY|MONTHLY with COUNT or UNTIL, "
            "at most 60 sessions. Each keeps the first session's Europe/London "
            "wall-clock time across daylight-saving changes.",
        },
    )

    @validates_schema
    def _times(self, data: dict[str, Any], **_kw: Any) -> None:
        _check_times(data.get("starts_at"), data.get("ends_at"))


class SessionPatchSchema(Schema):
    """A reschedule (times), a capacity change or a room change.

    Capacity rule: a capacity below the places already confirmed bumps no one; bookings
    keeps every confirmed place and confirms no more until the count falls under it.
    """

    starts_at = UTCDateTime()
    ends_at = UTCDateTime(metadata={"example": ENDS_EXAMPLE, "description": _ENDS})
    capacity = _int(1, 10_000)
    venue = _text(300, allow_none=True)

    @validates_schema
    def _something(self, data: dict[str, Any], **_kw: Any) -> None:
        if not data:
            raise ValidationError("Give starts_at/ends_at, capacity or venue.", "_schema")
        _check_times(data.get("starts_at"), data.get("ends_at"))


class CancelSchema(Schema):
    reason = _text(500, required=True, min_len=1, multiline=True)


class SessionSchema(Schema):
    """A session with its event's fields a booker needs (flat) and its hub's name."""

    id = fields.UUID()
    event_id = fields.UUID()
    hub_id = fields.UUID()
    hub_name = fields.String()
    series_id = fields.UUID(allow_none=True)
    starts_at = UTCDateTime()
    ends_at = UTCDateTime()
    capacity = fields.Integer()
    status = fields.String()
    sequence = fields.Integer()
    cancel_reason = fields.String(allow_none=True)
    event_status = fields.String()
    title = fields.String()
    kind = fields.String()
    format = fields.String()
    summary = fields.String()
    audience = fields.List(fields.String())
    topics = fields.List(fields.String())
    cpd_hours = fields.Float()
    price_pence = fields.Integer()
    funded_places = fields.Integer()
    cost_per_funded_place_pence = fields.Integer()
    funding_line = fields.String()
    funded_setting_types = fields.List(fields.String())
    refund_days_before = fields.Integer()
    venue = fields.String(allow_none=True)
    online_url = fields.String(allow_none=True)
    updated_at = UTCDateTime()


class SessionListSchema(Schema):
    items = fields.List(fields.Nested(SessionSchema))


class SessionPageSchema(SessionListSchema):
    next_cursor = NextCursor()


class SessionQuerySchema(Schema):
    hub_id = fields.UUID()
    kind = fields.String(validate=validate.OneOf(KINDS))
    format = fields.String(validate=validate.OneOf(FORMATS))
    audience = fields.String(validate=validate.OneOf(SETTING_TYPES))
    topic = _topic()
    from_ = UTCDateTime(data_key="from", metadata={"description": "Default: now."})
    to = UTCDateTime(metadata={"description": "Sessions starting before this."})
    q = _text(100, metadata={"description": "Words to find in title, summary and topics."})
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = Cursor()


class EventQuerySchema(Schema):
    hub_id = fields.UUID()
    status = fields.String(validate=validate.OneOf(EVENT_STATUSES))
    order = fields.String(
        load_default="oldest",
        validate=validate.OneOf(("oldest", "newest")),
        metadata={"description": "By when the events were created: oldest or newest first."},
    )
    with_sessions = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Include each event's sessions (any status): a programme "
            "page in one call instead of one per event."
        },
    )
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = Cursor()


class EventPageSchema(Schema):
    #: ``sessions`` only with ``with_sessions=true``
    items = fields.List(fields.Nested(EventSchema))
    next_cursor = NextCursor()


# -- audit --------------------------------------------------------------------------
class AuditEntrySchema(Schema):
    id = fields.UUID()
    at = UTCDateTime()
    action = fields.String()
    actor_id = fields.String()
    actor_name = fields.String()
    session_id = fields.UUID(allow_none=True)
    details = fields.Dict()


class HistorySchema(Schema):
    items = fields.List(fields.Nested(AuditEntrySchema))
    next_cursor = NextCursor(metadata={"description": "Always null."})
