"""Request and response bodies of the mentoring API (marshmallow; documented in OpenAPI).

Text a client sends is a ``shared.fields.Text`` (bounded, NFC, no control characters);
topics and setting types come from ``shared/vocabulary.py``; enums and ranges are
stated in the OpenAPI as they are enforced here.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from services.mentoring.models import FORMATS, MATCH_STATUSES, REQUEST_STATUSES
from shared.events.mentoring import OUTCOMES
from shared.fields import Text, UTCDateTime
from shared.pagination import Cursor, NextCursor
from shared.vocabulary import SETTING_TYPES, TOPICS

MAX_CAPACITY = 20
MAX_TOPICS = 5
MAX_LANGUAGES = 10


def _unique(name: str) -> Any:
    def check(values: list[Any]) -> None:
        if len(values) != len(set(values)):
            raise ValidationError(f"Each {name} may appear once.")

    return check


def _choices(choices: tuple[str, ...], name: str, *, min_items: int, max_items: int) -> Any:
    return fields.List(
        fields.String(validate=validate.OneOf(choices)),
        required=True,
        validate=[validate.Length(min=min_items, max=max_items), _unique(name)],
        metadata={"uniqueItems": True},
    )


def _languages() -> Any:
    return fields.List(
        Text(max_length=40, min_length=1),
        load_default=list,
        validate=[validate.Length(max=MAX_LANGUAGES), _unique("language")],
        metadata={"description": "Languages spoken, e.g. English, Urdu, Welsh."},
    )


# -- mentors -------------------------------------------------------------------------
class MentorProfileInSchema(Schema):
    hub_id = fields.UUID(required=True)
    specialisms = _choices(TOPICS, "topic", min_items=1, max_items=len(TOPICS))
    setting_types = _choices(
        SETTING_TYPES, "setting type", min_items=1, max_items=len(SETTING_TYPES)
    )
    formats = _choices(FORMATS, "format", min_items=1, max_items=len(FORMATS))
    region = Text(max_length=100, allow_none=True, load_default=None)
    capacity = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_CAPACITY),
        metadata={"description": "How many mentees at once (proposed and active matches)."},
    )
    languages = _languages()
    bio = Text(max_length=2000, multiline=True, allow_none=True, load_default=None)
    available = fields.Boolean(load_default=True)
    setting_name = Text(max_length=200, min_length=1, required=True)


class MentorProfileSchema(Schema):
    user_id = fields.String()
    name = fields.String()
    hub_id = fields.UUID()
    specialisms = fields.List(fields.String())
    setting_types = fields.List(fields.String())
    formats = fields.List(fields.String())
    region = fields.String(allow_none=True)
    languages = fields.List(fields.String())
    capacity = fields.Integer()
    load = fields.Integer(metadata={"description": "Proposed and active matches now."})
    bio = fields.String(allow_none=True)
    available = fields.Boolean()
    setting_name = fields.String()
    created_at = UTCDateTime()
    updated_at = UTCDateTime()


class MentorListQuerySchema(Schema):
    hub_id = fields.UUID(required=True)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = Cursor()


class MentorPageSchema(Schema):
    items = fields.List(fields.Nested(MentorProfileSchema))
    next_cursor = NextCursor()


# -- requests ------------------------------------------------------------------------
class RequestCreateSchema(Schema):
    hub_id = fields.UUID(required=True)
    topics = _choices(TOPICS, "topic", min_items=1, max_items=MAX_TOPICS)
    goals = Text(max_length=4000, min_length=1, multiline=True, required=True)
    format = fields.String(required=True, validate=validate.OneOf(FORMATS))
    setting_type = fields.String(required=True, validate=validate.OneOf(SETTING_TYPES))
    setting_name = Text(max_length=200, min_length=1, required=True)
    languages = _languages()
    region = Text(max_length=100, allow_none=True, load_default=None)


class MatchBriefSchema(Schema):
    id = fields.UUID()
    mentor_id = fields.String()
    mentor_name = fields.String()
    status = fields.String()
    score = fields.Integer()
    proposed_at = UTCDateTime()
    accepted_at = UTCDateTime(allow_none=True)


class RequestSchema(Schema):
    id = fields.UUID()
    hub_id = fields.UUID()
    mentee_id = fields.String()
    mentee_name = fields.String()
    topics = fields.List(fields.String())
    goals = fields.String()
    format = fields.String()
    setting_type = fields.String()
    setting_name = fields.String()
    languages = fields.List(fields.String())
    region = fields.String(allow_none=True)
    status = fields.String()
    created_at = UTCDateTime()
    updated_at = UTCDateTime()
    withdrawn_at = UTCDateTime(allow_none=True)
    match = fields.Nested(
        MatchBriefSchema,
        allow_none=True,
        metadata={"description": "The proposed or active match, if any."},
    )


class RequestListQuerySchema(Schema):
    hub_id = fields.UUID(metadata={"description": "A hub's requests (all of them for its leads)."})
    status = fields.String(validate=validate.OneOf(REQUEST_STATUSES))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = Cursor()


class RequestPageSchema(Schema):
    items = fields.List(fields.Nested(RequestSchema))
    next_cursor = NextCursor()


# -- matching runs and matches ---------------------------------------------------------
class MatchSchema(Schema):
    id = fields.UUID()
    run_id = fields.UUID()
    hub_id = fields.UUID()
    request_id = fields.UUID()
    mentor_id = fields.String()
    mentee_id = fields.String()
    score = fields.Integer()
    breakdown = fields.Dict(keys=fields.String(), values=fields.Integer())
    status = fields.String(validate=validate.OneOf(MATCH_STATUSES))
    proposed_at = UTCDateTime()
    accepted_at = UTCDateTime(allow_none=True)
    declined_at = UTCDateTime(allow_none=True)
    decline_reason = fields.String(allow_none=True)
    closed_at = UTCDateTime(allow_none=True)
    outcome = fields.String(allow_none=True)
    summary = fields.String(allow_none=True)


class UnmatchedSchema(Schema):
    request_id = fields.UUID()
    reason = fields.String()


class MatchingRunSchema(Schema):
    id = fields.UUID()
    hub_id = fields.UUID()
    run_by = fields.String()
    created_at = UTCDateTime()
    weights = fields.Dict(keys=fields.String(), values=fields.Integer())
    matches = fields.List(fields.Nested(MatchSchema))
    unmatched = fields.List(fields.Nested(UnmatchedSchema))


class DeclineSchema(Schema):
    reason = Text(max_length=1000, multiline=True, allow_none=True, load_default=None)


class CloseSchema(Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    summary = Text(max_length=4000, min_length=1, multiline=True, required=True)


# -- caseloads -----------------------------------------------------------------------
class CaseloadItemSchema(Schema):
    match_id = fields.UUID()
    request_id = fields.UUID()
    hub_id = fields.UUID()
    status = fields.String()
    mentee_id = fields.String()
    mentee_name = fields.String()
    setting_type = fields.String()
    setting_name = fields.String()
    format = fields.String()
    goals = fields.String()
    topics = fields.List(fields.String())
    score = fields.Integer()
    proposed_at = UTCDateTime()
    accepted_at = UTCDateTime(allow_none=True)
    meetings_held = fields.Integer()
    minutes_logged = fields.Integer()
    last_meeting_at = UTCDateTime(allow_none=True)
    next_meeting_at = UTCDateTime(allow_none=True)


class CaseloadSchema(Schema):
    capacity = fields.Integer(allow_none=True)
    load = fields.Integer()
    items = fields.List(fields.Nested(CaseloadItemSchema))


class MentorCaseloadSchema(Schema):
    user_id = fields.String()
    name = fields.String()
    load = fields.Integer()
    active = fields.Integer()
    proposed = fields.Integer()
    capacity = fields.Integer()
    available = fields.Boolean()


class HubCaseloadsSchema(Schema):
    hub_id = fields.UUID()
    mentors = fields.List(fields.Nested(MentorCaseloadSchema))
