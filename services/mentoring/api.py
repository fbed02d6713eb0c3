"""The mentoring HTTP API under ``/api/mentoring`` (docs/architecture.md, "The HTTP contract";
README, "Mentoring")."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from services.mentoring import operations as ops
from services.mentoring import queries
from services.mentoring.schemas import (
    CaseloadSchema,
    CloseSchema,
    DeclineSchema,
    HubCaseloadsSchema,
    MatchingRunSchema,
    MatchSchema,
    MentorListQuerySchema,
    MentorPageSchema,
    MentorProfileInSchema,
    MentorProfileSchema,
    RequestCreateSchema,
    RequestListQuerySchema,
    RequestPageSchema,
    RequestSchema,
)
from shared.auth import require_identity, requires
from shared.web import current_db, runtime

bp = Blueprint(
    "mentoring",
    __name__,
    url_prefix="/api/mentoring",
    description="Mentor profiles, mentoring requests, matching runs, matches and caseloads.",
)


# -- mentors -----------------------------------------------------------------------------
@bp.route("/mentors")
class Mentors(MethodView):
    @requires("hub_lead")
    @bp.arguments(MentorListQuerySchema, location="query")
    @bp.response(200, MentorPageSchema)
    @bp.alt_response(403, description="Not a lead of this hub.")
    def get(self, args: dict[str, Any]) -> Any:
        """The mentors of a hub, with their load (its leads and admins)."""
        return queries.mentors_page(current_db(), require_identity(), args)


@bp.route("/mentors/me")
class OwnMentorProfile(MethodView):
    @requires("mentor")
    @bp.response(200, MentorProfileSchema)
    @bp.alt_response(404, description="No profile yet.")
    def get(self) -> Any:
        """Your mentor profile."""
        return queries.own_profile(current_db(), require_identity())

    @requires("mentor")
    @bp.arguments(MentorProfileInSchema)
    @bp.response(200, MentorProfileSchema)
    @bp.alt_response(403, description="Not a mentor of this hub.")
    def put(self, data: dict[str, Any]) -> Any:
        """Create or replace your mentor profile, in a hub you belong to."""
        db = current_db()
        row = ops.put_own_profile(db, require_identity(), data)
        return queries.profile(db, row)


@bp.route("/mentors/<uuid:user_id>")
class MentorProfileItem(MethodView):
    @requires("hub_lead")
    @bp.arguments(MentorProfileInSchema)
    @bp.response(200, MentorProfileSchema)
    @bp.alt_response(403, description="Not a lead of this hub (or of the mentor's hub).")
    @bp.alt_response(422, description="Invalid body, or the account is not an active mentor.")
    def put(self, data: dict[str, Any], user_id: uuid.UUID) -> Any:
        """Create or replace a mentor's profile (a lead of the hub, or an admin)."""
        db = current_db()
        row = ops.put_profile_for(db, require_identity(), user_id, data)
        return queries.profile(db, row)


# -- requests ----------------------------------------------------------------------------
@bp.route("/requests")
class Requests(MethodView):
    @requires("practitioner")
    @bp.arguments(RequestCreateSchema)
    @bp.response(201, RequestSchema)
    @bp.alt_response(409, description="You already have an open request at this hub.")
    def post(self, data: dict[str, Any]) -> Any:
        """Ask a hub for a mentor (one open request per hub at a time)."""
        db = current_db()
        row = ops.create_request(db, require_identity(), data)
        return queries.request_of(db, row), 201, {"Location": f"/api/mentoring/requests/{row.id}"}

    @requires()
    @bp.arguments(RequestListQuerySchema, location="query")
    @bp.response(200, RequestPageSchema)
    @bp.alt_response(403, description="A hub you do not lead.")
    def get(self, args: dict[str, Any]) -> Any:
        """Your requests; with ``hub_id`` all of a hub's (its leads); admins see all."""
        return queries.requests_page(current_db(), require_identity(), args)


@bp.route("/requests/<uuid:request_id>")
class RequestItem(MethodView):
    @requires()
    @bp.response(200, RequestSchema)
    @bp.alt_response(404, description="No such request, or not yours.")
    def get(self, request_id: uuid.UUID) -> Any:
        """One request: your own, or any of a hub you lead."""
        return queries.request(current_db(), require_identity(), request_id)


@bp.route("/requests/<uuid:request_id>/withdraw")
class RequestWithdraw(MethodView):
    @requires()
    @bp.response(200, RequestSchema)
    @bp.alt_response(403, description="Not your request.")
    @bp.alt_response(404, description="No such request, or not yours.")
    @bp.alt_response(409, description="Already withdrawn or closed, or the mentoring is active.")
    def post(self, request_id: uuid.UUID) -> Any:
        """Withdraw your request (open, or with a match only proposed: that match ends)."""
        db = current_db()
        row = ops.withdraw_request(db, require_identity(), request_id)
        return queries.request_of(db, row)


# -- matching runs -----------------------------------------------------------------------
@bp.route("/hubs/<uuid:hub_id>/matching-runs")
class MatchingRuns(MethodView):
    @requires("hub_lead")
    @bp.response(201, MatchingRunSchema)
    @bp.alt_response(403, description="Not a lead of this hub.")
    def post(self, hub_id: uuid.UUID) -> Any:
        """Propose mentors for every open request of the hub (README, "Mentoring")."""
        run = ops.run_matching(current_db(), runtime().settings, require_identity(), hub_id)
        location = f"/api/mentoring/hubs/{hub_id}/matching-runs/{run.id}"
        return queries.run_view(run), 201, {"Location": location}


@bp.route("/hubs/<uuid:hub_id>/matching-runs/<uuid:run_id>")
class MatchingRunItem(MethodView):
    @requires("hub_lead")
    @bp.response(200, MatchingRunSchema)
    @bp.alt_response(403, description="Not a lead of this hub.")
    @bp.alt_response(404, description="No such run in this hub.")
    def get(self, hub_id: uuid.UUID, run_id: uuid.UUID) -> Any:
        """A stored matching run, with its matches as they stand now."""
        return queries.run(current_db(), require_identity(), hub_id, run_id)


@bp.route("/hubs/<uuid:hub_id>/caseloads")
class HubCaseloads(MethodView):
    @requires("hub_lead")
    @bp.response(200, HubCaseloadsSchema)
    @bp.alt_response(403, description="Not a lead of this hub.")
    def get(self, hub_id: uuid.UUID) -> Any:
        """Each mentor of the hub: load (proposed + active), capacity, availability."""
        return queries.hub_caseloads(current_db(), require_identity(), hub_id)


# -- matches -----------------------------------------------------------------------------
@bp.route("/matches/<uuid:match_id>")
class MatchItem(MethodView):
    @requires()
    @bp.response(200, MatchSchema)
    @bp.alt_response(404, description="No such match, or not yours.")
    def get(self, match_id: uuid.UUID) -> Any:
        """One match: its mentor's, its mentee's, or any of a hub you lead."""
        return queries.match(current_db(), require_identity(), match_id)


@bp.route("/matches/<uuid:match_id>/accept")
class MatchAccept(MethodView):
    @requires("mentor")
    @bp.response(200, MatchSchema)
    @bp.alt_response(403, description="Not the proposed mentor.")
    @bp.alt_response(404, description="No such match.")
    @bp.alt_response(409, description="Not proposed (any more).")
    def post(self, match_id: uuid.UUID) -> Any:
        """Accept a proposal (its mentor): the mentoring is active."""
        db = current_db()
        match = ops.accept_match(db, runtime().settings, require_identity(), match_id)
        return queries.match_view(match)


@bp.route("/matches/<uuid:match_id>/decline")
class MatchDecline(MethodView):
    @requires("mentor", "hub_lead")
    @bp.arguments(DeclineSchema, required=False)
    @bp.response(200, MatchSchema)
    @bp.alt_response(403, description="Neither its mentor nor a lead of its hub.")
    @bp.alt_response(404, description="No such match.")
    @bp.alt_response(409, description="Not proposed (any more).")
    def post(self, data: dict[str, Any] | None, match_id: uuid.UUID) -> Any:
        """Decline a proposal (its mentor, or a hub lead): the request is open again and
        this pair is never proposed again."""
        reason = (data or {}).get("reason")
        match = ops.decline_match(current_db(), require_identity(), match_id, reason=reason)
        return queries.match_view(match)


@bp.route("/matches/<uuid:match_id>/close")
class MatchClose(MethodView):
    @requires("mentor", "hub_lead")
    @bp.arguments(CloseSchema)
    @bp.response(200, MatchSchema)
    @bp.alt_response(403, description="Neither its mentor nor a lead of its hub.")
    @bp.alt_response(404, description="No such match.")
    @bp.alt_response(409, description="Not active.")
    def post(self, data: dict[str, Any], match_id: uuid.UUID) -> Any:
        """End an active mentoring with its outcome and a summary."""
        match = ops.close_match(
            current_db(),
            runtime().settings,
            require_identity(),
            match_id,
            outcome=data["outcome"],
            summary=data["summary"],
        )
        return queries.match_view(match)


@bp.route("/caseload")
class Caseload(MethodView):
    @requires("mentor")
    @bp.response(200, CaseloadSchema)
    def get(self) -> Any:
        """Your proposed and active matches, active first."""
        return queries.caseload(current_db(), require_identity())
