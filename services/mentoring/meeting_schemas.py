"""Request and response shapes of mentoring meetings and caseload calendar feeds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.mentoring.meeting_models import (
    MAX_LOCATION,
    MAX_NOTES,
    MAX_URL,
    MEETING_FORMATS,
    MEETING_STATUSES,
)
from shared.fields import Text, UTCDateTime

#: The longest meeting (``ends_at`` at most this long after ``starts_at``).
MAX_LENGTH = timedelta(hours=12)
MAX_MINUTES = 600
#: What validate.URL(schemes={"http", "https"}, require_tld=False) takes, for the
#: OpenAPI (the catalogue documents its joining links the same way).
URL_PATTERN = (
    r"^https?://(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
    r"|[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?::[0-9]{1,5})?(?:/[!-~]*)?$"
)
_ENDS = "After starts_at, at most 12 hours later."


def _url(description: str | None = None, **kw: Any) -> Text:
    metadata = {"format": "uri", "pattern": URL_PATTERN}
    if description:
        metadata["description"] = description
    return Text(
        max_length=MAX_URL,
        validate=validate.URL(schemes={"http", "https"}, require_tld=False),
        metadata=metadata,
        **kw,
    )


def check_times(starts_at: Any, ends_at: Any) -> None:
    """Raise a ValidationError on ``ends_at`` unless it is after ``starts_at`` and at most
    ``MAX_LENGTH`` later (the operations check a reschedule's merged times the same way)."""
    if starts_at is None or ends_at is None:
        return
    if ends_at <= starts_at:
        raise ValidationError("ends_at must be after starts_at.", "ends_at")
    if ends_at - starts_at > MAX_LENGTH:
        raise ValidationError("A meeting lasts at most 12 hours.", "ends_at")


def check_place(format_: str | None, location: str | None, online_url: str | None) -> None:
    """An online meeting needs its joining link, one in person its location."""
    if format_ == "online" and not online_url:
        raise ValidationError("An online meeting needs online_url.", "online_url")
    if format_ == "in_person" and not location:
        raise ValidationError("A meeting in person needs a location.", "location")


class MeetingCreateSchema(Schema):
    starts_at = UTCDateTime(required=True)
    ends_at = UTCDateTime(required=True, metadata={"description": _ENDS})
    format = fields.String(required=True, validate=validate.OneOf(MEETING_FORMATS))
    location = Text(
        max_length=MAX_LOCATION,
        min_length=1,
        allow_none=True,
        metadata={"description": "Where (in person)."},
    )
    online_url = _url("The joining link (online).", allow_none=True)

    @validates_schema
    def _whole(self, data: dict[str, Any], **_kw: Any) -> None:
        check_times(data.get("starts_at"), data.get("ends_at"))
        check_place(data.get("format"), data.get("location"), data.get("online_url"))


class MeetingUpdateSchema(Schema):
    """A reschedule: any of the times, the format and the place (at least one)."""

    starts_at = UTCDateTime()
    ends_at = UTCDateTime(metadata={"description": _ENDS})
    format = fields.String(validate=validate.OneOf(MEETING_FORMATS))
    location = Text(max_length=MAX_LOCATION, min_length=1, allow_none=True)
    online_url = _url(allow_none=True)

    @validates_schema
    def _whole(self, data: dict[str, Any], **_kw: Any) -> None:
        if not data:
            raise ValidationError(
                "Give starts_at, ends_at, format, location or online_url.", "_schema"
            )
        check_times(data.get("starts_at"), data.get("ends_at"))


class MeetingLogSchema(Schema):
    minutes = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_MINUTES)
    )
    notes = Text(required=True, max_length=MAX_NOTES, multiline=True)
    next_steps = Text(load_default="", max_length=MAX_NOTES, multiline=True)


class MeetingSchema(Schema):
    """A meeting. ``notes`` and ``next_steps`` are only in the pair's answers."""

    id = fields.UUID()
    match_id = fields.UUID()
    hub_id = fields.UUID()
    mentor_id = fields.String()
    mentee_id = fields.String()
    starts_at = UTCDateTime()
    ends_at = UTCDateTime()
    format = fields.String()
    location = fields.String(allow_none=True)
    online_url = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": list(MEETING_STATUSES)})
    sequence = fields.Integer(
        allow_none=True, metadata={"description": "SEQUENCE of the last invite mailed."}
    )
    created_by = fields.String()
    created_at = UTCDateTime()
    updated_at = UTCDateTime()
    cancelled_at = UTCDateTime(allow_none=True)
    logged = fields.Boolean()
    logged_at = UTCDateTime(allow_none=True)
    minutes = fields.Integer(allow_none=True)
    notes = fields.String(allow_none=True, metadata={"description": "The pair only."})
    next_steps = fields.String(allow_none=True, metadata={"description": "The pair only."})


class MatchMeetingsSchema(Schema):
    match_id = fields.UUID()
    meetings_held = fields.Integer(metadata={"description": "Meetings logged."})
    minutes_logged = fields.Integer()
    last_meeting_at = UTCDateTime(allow_none=True)
    next_meeting_at = UTCDateTime(allow_none=True)
    items = fields.List(fields.Nested(MeetingSchema))


class OwnMeetingsQuerySchema(Schema):
    since = UTCDateTime(
        data_key="from",
        metadata={"description": "Only meetings ending after this (e.g. now: upcoming)."},
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=200))


class OwnMeetingsSchema(Schema):
    items = fields.List(fields.Nested(MeetingSchema))


class CaseloadFeedSchema(Schema):
    id = fields.UUID()
    user_id = fields.String()
    created_at = UTCDateTime()
    url = fields.String(metadata={"description": "Only in the answer that created it."})


class CaseloadFeedListSchema(Schema):
    items = fields.List(fields.Nested(CaseloadFeedSchema))
