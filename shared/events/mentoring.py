"""Schemas of the ``mentoring.*`` events (docs/architecture.md, "Event catalogue"): the
producer and consumers share them.

Fat events: each carries the match's hub, request, mentor and mentee, so a consumer
(budget, later) needs no call back. Times are RFC 3339 UTC; ids are UUIDs except the
people's, which are the gateway's user ids as strings (as in ``bookings.*``).
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

MATCH_PROPOSED = "mentoring.match.proposed"
MATCH_ACCEPTED = "mentoring.match.accepted"
MATCH_CLOSED = "mentoring.match.closed"
MEETING_LOGGED = "mentoring.meeting.logged"

#: How a closed match ended (``POST /api/mentoring/matches/{id}/close``).
OUTCOMES = ("goals_met", "partly_met", "ended_early")


class _MatchRef(Schema):
    match_id = fields.UUID(required=True)
    hub_id = fields.UUID(required=True)
    request_id = fields.UUID(required=True)
    mentor_id = fields.String(required=True)
    mentee_id = fields.String(required=True)
    score = fields.Integer(required=True)


class MatchProposedData(_MatchRef):
    """A matching run proposed this mentor for this request."""

    run_id = fields.UUID(required=True)
    breakdown = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    topics = fields.List(fields.String(), required=True)
    format = fields.String(required=True)
    setting_type = fields.String(required=True)
    proposed_at = fields.AwareDateTime(required=True)


class MatchAcceptedData(_MatchRef):
    """The mentor accepted: the mentoring is active."""

    topics = fields.List(fields.String(), required=True)
    format = fields.String(required=True)
    setting_type = fields.String(required=True)
    accepted_at = fields.AwareDateTime(required=True)


class MatchClosedData(_MatchRef):
    """An active mentoring ended."""

    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    closed_by = fields.String(required=True)
    accepted_at = fields.AwareDateTime(allow_none=True)
    closed_at = fields.AwareDateTime(required=True)


class MeetingLoggedData(Schema):
    """A mentoring meeting took place (budget will account for mentor time)."""

    match_id = fields.UUID(required=True)
    hub_id = fields.UUID(required=True)
    mentor_id = fields.String(required=True)
    minutes = fields.Integer(required=True, validate=validate.Range(min=1, max=24 * 60))
    occurred_at = fields.AwareDateTime(required=True)


SCHEMAS: dict[str, type[Schema]] = {
    MATCH_PROPOSED: MatchProposedData,
    MATCH_ACCEPTED: MatchAcceptedData,
    MATCH_CLOSED: MatchClosedData,
    MEETING_LOGGED: MeetingLoggedData,
}
