"""The catalogue HTTP API under ``/api/catalogue`` (docs/architecture.md, "The HTTP contract")."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from services.catalogue import operations as ops
from services.catalogue.schemas import (
    CancelSchema,
    EventCreateSchema,
    EventPageSchema,
    EventQuerySchema,
    EventSchema,
    EventUpdateSchema,
    HistorySchema,
    HubCreateSchema,
    HubListSchema,
    HubSchema,
    SessionCreateSchema,
    SessionListSchema,
    SessionPageSchema,
    SessionPatchSchema,
    SessionQuerySchema,
    SessionSchema,
)
from shared.auth import current_identity, require_identity, require_role, requires
from shared.web import current_db

bp = Blueprint(
    "catalogue",
    __name__,
    url_prefix="/api/catalogue",
    description="Hubs, their events and sessions: the programme practitioners book from.",
)


# -- hubs ---------------------------------------------------------------------------
@bp.route("/hubs")
class Hubs(MethodView):
    @bp.response(200, HubListSchema)
    def get(self) -> dict[str, Any]:
        """Every hub (public)."""
        return {"items": ops.hubs(current_db()), "next_cursor": None}

    @requires("admin")
    @bp.arguments(HubCreateSchema)
    @bp.response(201, HubSchema)
    @bp.alt_response(409, description="A hub with this name exists.")
    def post(self, data: dict[str, Any]) -> Any:
        """Create a hub (admins)."""
        require_role("admin")
        hub = ops.create_hub(current_db(), data)
        return hub, 201, {"Location": f"/api/catalogue/hubs/{hub.id}"}


@bp.route("/hubs/<uuid:hub_id>")
class HubItem(MethodView):
    @bp.response(200, HubSchema)
    @bp.alt_response(404, description="No such hub.")
    def get(self, hub_id: uuid.UUID) -> Any:
        """One hub (public)."""
        return ops.hub(current_db(), hub_id)


# -- events -------------------------------------------------------------------------
@bp.route("/events")
class Events(MethodView):
    @bp.arguments(EventQuerySchema, location="query")
    @bp.response(200, EventPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Events (without their sessions), oldest first; hub leads also see their drafts."""
        who = current_identity(optional=True)
        return ops.events_page(current_db(), who, args)

    @requires("hub_lead")
    @bp.arguments(EventCreateSchema)
    @bp.response(201, EventSchema)
    @bp.alt_response(403, description="You do not lead this hub.")
    def post(self, data: dict[str, Any]) -> Any:
        """Create a draft event for a hub you lead.

        ``online_url`` is required for online events, ``venue`` for in-person ones, both
        for hybrid ones. ``capacity`` is the default for the event's sessions.
        """
        who = require_identity()
        doc = ops.create_event(current_db(), who, data)
        return doc, 201, {"Location": f"/api/catalogue/events/{doc['id']}"}


@bp.route("/events/<uuid:event_id>")
class EventItem(MethodView):
    @bp.response(200, EventSchema)
    @bp.alt_response(404, description="No such event (drafts are visible to their hub's leads).")
    def get(self, event_id: uuid.UUID) -> dict[str, Any]:
        """An event with its sessions."""
        who = current_identity(optional=True)
        return ops.event(current_db(), who, event_id)

    @requires("hub_lead")
    @bp.arguments(EventUpdateSchema)
    @bp.response(200, EventSchema)
    @bp.alt_response(403, description="You do not lead this hub.")
    @bp.alt_response(409, description="The event was cancelled.")
    def patch(self, data: dict[str, Any], event_id: uuid.UUID) -> dict[str, Any]:
        """Change an event's fields; bookers of a published event are told."""
        who = require_identity()
        return ops.update_event(current_db(), who, event_id, data)


@bp.route("/events/<uuid:event_id>/sessions")
class EventSessions(MethodView):
    @requires("hub_lead")
    @bp.arguments(SessionCreateSchema)
    @bp.response(201, SessionListSchema)
    @bp.alt_response(403, description="You do not lead this hub.")
    @bp.alt_response(409, description="The event was cancelled.")
    def post(self, data: dict[str, Any], event_id: uuid.UUID) -> dict[str, Any]:
        """Add a session, or a series with ``rrule`` (one session per occurrence).

        A series keeps the first session's Europe/London wall-clock time: weekly at
        18:00 stays 18:00 after the clocks change. Sessions added to a published
        event are bookable at once.
        """
        who = require_identity()
        return {"items": ops.add_sessions(current_db(), who, event_id, data)}


@bp.route("/events/<uuid:event_id>/publish")
class EventPublish(MethodView):
    @requires("hub_lead")
    @bp.response(200, EventSchema)
    @bp.alt_response(409, description="Cancelled, or no session to publish.")
    def post(self, event_id: uuid.UUID) -> dict[str, Any]:
        """Publish a draft: every scheduled session becomes bookable (idempotent)."""
        who = require_identity()
        return ops.publish_event(current_db(), who, event_id)


@bp.route("/events/<uuid:event_id>/cancel")
class EventCancel(MethodView):
    @requires("hub_lead")
    @bp.arguments(CancelSchema)
    @bp.response(200, EventSchema)
    @bp.alt_response(409, description="Already cancelled.")
    def post(self, data: dict[str, Any], event_id: uuid.UUID) -> dict[str, Any]:
        """Cancel the whole event and every session still scheduled."""
        who = require_identity()
        return ops.cancel_event(current_db(), who, event_id, data["reason"])


@bp.route("/events/<uuid:event_id>/history")
class EventHistory(MethodView):
    @requires("hub_lead")
    @bp.response(200, HistorySchema)
    @bp.alt_response(403, description="You do not lead this hub.")
    def get(self, event_id: uuid.UUID) -> dict[str, Any]:
        """Who created, published, changed or cancelled what, and when (hub leads)."""
        who = require_identity()
        return ops.event_history(current_db(), who, event_id)


# -- sessions -----------------------------------------------------------------------
@bp.route("/sessions")
class Sessions(MethodView):
    @bp.arguments(SessionQuerySchema, location="query")
    @bp.response(200, SessionPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Bookable sessions (public): published, scheduled, upcoming; ordered by start.

        Filters combine; ``q`` matches every word in the title, summary or topics.
        Page with ``limit`` (at most 100) and the ``next_cursor`` of the previous page.
        """
        return ops.sessions_page(current_db(), args)


@bp.route("/sessions/<uuid:session_id>")
class SessionItem(MethodView):
    @bp.response(200, SessionSchema)
    @bp.alt_response(404, description="No such session (drafts are visible to their hub's leads).")
    def get(self, session_id: uuid.UUID) -> dict[str, Any]:
        """One session with its event's fields (cancelled ones too, with their reason)."""
        who = current_identity(optional=True)
        return ops.session(current_db(), who, session_id)

    @requires("hub_lead")
    @bp.arguments(SessionPatchSchema)
    @bp.response(200, SessionSchema)
    @bp.alt_response(403, description="You do not lead this hub.")
    @bp.alt_response(409, description="Cancelled or started.")
    def patch(self, data: dict[str, Any], session_id: uuid.UUID) -> dict[str, Any]:
        """Reschedule (times), change capacity or move room; ``sequence`` goes up by one.

        Capacity rule: lowering capacity below the places already confirmed bumps no
        one. Bookings keeps every confirmed place and confirms no more until the count
        falls under the new capacity; the waiting list waits.
        """
        who = require_identity()
        return ops.change_session(current_db(), who, session_id, data)


@bp.route("/sessions/<uuid:session_id>/cancel")
class SessionCancel(MethodView):
    @requires("hub_lead")
    @bp.arguments(CancelSchema)
    @bp.response(200, SessionSchema)
    @bp.alt_response(409, description="Already cancelled, or started.")
    def post(self, data: dict[str, Any], session_id: uuid.UUID) -> dict[str, Any]:
        """Cancel one session; its bookings are cancelled and bookers told."""
        who = require_identity()
        return ops.cancel_session(current_db(), who, session_id, data["reason"])
