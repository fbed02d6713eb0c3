"""Mentoring meetings and caseload calendar feeds under ``/api/mentoring`` (issue 11).

Scheduling, rescheduling and cancelling are for the pair (the match's mentor and
mentee), logging for the mentor; leads of the hub and admins read meetings without
their notes. The feed URL itself is served by ``feed_api``.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from services.mentoring import meetings
from services.mentoring.meeting_schemas import (
    CaseloadFeedListSchema,
    CaseloadFeedSchema,
    MatchMeetingsSchema,
    MeetingCreateSchema,
    MeetingLogSchema,
    MeetingSchema,
    MeetingUpdateSchema,
    OwnMeetingsQuerySchema,
    OwnMeetingsSchema,
)
from shared.auth import require_identity, requires
from shared.web import current_db, runtime

bp = Blueprint(
    "mentoring_meetings",
    __name__,
    url_prefix="/api/mentoring",
    description="Mentoring meetings (invites by mail) and caseload calendar feeds.",
)


# -- meetings ------------------------------------------------------------------------------
@bp.route("/matches/<uuid:match_id>/meetings")
class MatchMeetings(MethodView):
    @requires("mentor", "practitioner")
    @bp.arguments(MeetingCreateSchema)
    @bp.response(201, MeetingSchema)
    @bp.alt_response(403, description="Not the mentor or the mentee of this match.")
    @bp.alt_response(404, description="No such match.")
    @bp.alt_response(409, description="The match is not active.")
    def post(self, data: dict[str, Any], match_id: uuid.UUID) -> Any:
        """Arrange a meeting of an active match (its mentor or mentee): both get a
        calendar invite by mail."""
        meeting = meetings.schedule(
            current_db(), runtime().settings, require_identity(), match_id, data
        )
        view = meetings.meeting_view(meeting, private=True)
        return view, 201, {"Location": f"/api/mentoring/meetings/{meeting.id}"}

    @requires()
    @bp.response(200, MatchMeetingsSchema)
    @bp.alt_response(403, description="A lead of another hub.")
    @bp.alt_response(404, description="No such match, or not yours.")
    def get(self, match_id: uuid.UUID) -> Any:
        """A match's meetings and counts: the pair sees notes and next steps; leads of
        its hub and admins see the meetings and minutes without them."""
        return meetings.match_meetings(current_db(), require_identity(), match_id)


@bp.route("/meetings")
class OwnMeetings(MethodView):
    @requires("mentor", "practitioner")
    @bp.arguments(OwnMeetingsQuerySchema, location="query")
    @bp.response(200, OwnMeetingsSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Your meetings, as mentor or mentee, soonest first (``from``: only those ending
        after it): every match's meetings in one call."""
        return meetings.own_meetings(
            current_db(), require_identity(), args.get("since"), args["limit"]
        )


@bp.route("/meetings/<uuid:meeting_id>")
class MeetingItem(MethodView):
    @requires("mentor", "practitioner")
    @bp.arguments(MeetingUpdateSchema)
    @bp.response(200, MeetingSchema)
    @bp.alt_response(403, description="Not the mentor or the mentee.")
    @bp.alt_response(404, description="No such meeting.")
    @bp.alt_response(409, description="Cancelled, logged, or the match is not active.")
    def patch(self, data: dict[str, Any], meeting_id: uuid.UUID) -> Any:
        """Move a meeting (times, format, place): both get the updated invite."""
        meeting = meetings.reschedule(
            current_db(), runtime().settings, require_identity(), meeting_id, data
        )
        return meetings.meeting_view(meeting, private=True)


@bp.route("/meetings/<uuid:meeting_id>/cancel")
class MeetingCancel(MethodView):
    @requires("mentor", "practitioner")
    @bp.response(200, MeetingSchema)
    @bp.alt_response(403, description="Not the mentor or the mentee.")
    @bp.alt_response(404, description="No such meeting.")
    @bp.alt_response(409, description="Already cancelled, or logged.")
    def post(self, meeting_id: uuid.UUID) -> Any:
        """Call a meeting off: both get the cancellation for their calendars."""
        meeting = meetings.cancel(current_db(), runtime().settings, require_identity(), meeting_id)
        return meetings.meeting_view(meeting, private=True)


@bp.route("/meetings/<uuid:meeting_id>/log")
class MeetingLog(MethodView):
    @requires("mentor")
    @bp.arguments(MeetingLogSchema)
    @bp.response(200, MeetingSchema)
    @bp.alt_response(403, description="Not the mentor of this meeting.")
    @bp.alt_response(404, description="No such meeting.")
    @bp.alt_response(409, description="Not started yet, cancelled, or already logged.")
    def post(self, data: dict[str, Any], meeting_id: uuid.UUID) -> Any:
        """Log a meeting that has started (its mentor): minutes, notes and next steps,
        which only the pair can read."""
        meeting = meetings.log(current_db(), require_identity(), meeting_id, data)
        return meetings.meeting_view(meeting, private=True)


# -- caseload calendar feeds ---------------------------------------------------------------
@bp.route("/calendar-feeds")
class CaseloadFeeds(MethodView):
    @requires("mentor", "practitioner")
    @bp.response(201, CaseloadFeedSchema)
    @bp.alt_response(409, description="No mentoring match yet (as mentor or mentee).")
    def post(self) -> Any:
        """A private subscription URL for your mentoring meetings (shown only now: keep
        it secret)."""
        return meetings.create_feed(current_db(), runtime().settings, require_identity()), 201

    @requires()
    @bp.response(200, CaseloadFeedListSchema)
    def get(self) -> Any:
        """Your live caseload feeds (their URLs are not stored, so not shown again)."""
        return meetings.own_feeds(current_db(), require_identity())


@bp.route("/calendar-feeds/<uuid:feed_id>")
class CaseloadFeedItem(MethodView):
    @requires()
    @bp.response(204)
    @bp.alt_response(404, description="No such feed, or not yours.")
    def delete(self, feed_id: uuid.UUID) -> None:
        """Revoke a feed (yours; any, as admin): its URL answers 404 from now on.
        Revoking an already revoked feed is a success too."""
        meetings.revoke_feed(current_db(), require_identity(), feed_id)
