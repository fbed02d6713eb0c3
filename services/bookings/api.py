"""The bookings HTTP API under ``/api/bookings`` (docs/architecture.md, "The HTTP contract")."""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from services.bookings import operations as ops
from services.bookings import payments, queries, records
from services.bookings.models import PENDING_PAYMENT
from services.bookings.schemas import (
    AttendanceResultSchema,
    AttendanceSchema,
    AvailabilitySchema,
    BookingCreateSchema,
    BookingListQuerySchema,
    BookingPageSchema,
    BookingSchema,
    CancelSchema,
    CpdRecordSchema,
    FeedbackCreateSchema,
    FeedbackSchema,
    FeedbackSummarySchema,
    FeedCreateSchema,
    FeedListSchema,
    FeedQuerySchema,
    FeedSchema,
    FormatQuerySchema,
    HubAvailabilityQuerySchema,
    HubAvailabilitySchema,
    RosterSchema,
)
from shared.auth import require_identity, requires
from shared.problems import Problem
from shared.web import current_db, runtime

bp = Blueprint(
    "bookings",
    __name__,
    url_prefix="/api/bookings",
    description="Book sessions, the waiting list, cancellation and availability.",
)

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise Problem(
            400,
            "Bad request",
            "Idempotency-Key must be 1-255 visible ASCII characters.",
            kind="bad-idempotency-key",
        )
    return key


def session_fetcher() -> ops.SessionFetcher:
    """How this app reads an unreplicated session (tests swap in a fake)."""
    rt = runtime()
    fetch = rt.extras.get("session_fetcher")
    if fetch is None:
        from services.bookings.catalogue_client import fetcher

        fetch = rt.extras["session_fetcher"] = fetcher(rt.settings)
    return fetch


@bp.route("")
class Bookings(MethodView):
    @requires()
    @bp.arguments(BookingCreateSchema)
    @bp.response(201, BookingSchema)
    @bp.alt_response(200, schema=BookingSchema, description="A replay of an Idempotency-Key.")
    @bp.alt_response(404, description="No such session.")
    @bp.alt_response(409, description="Already booked; session cancelled, started or unpublished.")
    @bp.alt_response(503, description="Paid session: the place is held but Stripe is unreachable.")
    def post(self, data: dict[str, Any]) -> Any:
        """Book a place (or join the waiting list).

        On a paid session the place is held (``pending_payment``, until
        ``hold_expires_at``) and ``checkout_url`` is where to pay; the booking is
        confirmed when Stripe says so. Send an ``Idempotency-Key`` header to make
        retries safe: the same key returns the same booking; the same key with a
        different body is refused (422).
        """
        who = require_identity()
        key = _idempotency_key()
        rt = runtime()
        booking, created = ops.book(
            current_db(),
            rt.settings,
            who,
            data["session_id"],
            idempotency_key=key,
            fingerprint=ops.request_fingerprint(
                {"session_id": str(data["session_id"])}
                | ({"request_funding": True} if data["request_funding"] else {})
            ),
            fetch=session_fetcher(),
            request_funding=data["request_funding"],
        )
        if booking.status == PENDING_PAYMENT and not booking.checkout_url:
            # After the booking committed and outside any lock (payments.py).
            booking = payments.ensure_checkout(current_db(), rt.settings, booking.id)
        headers = {"Location": f"/api/bookings/{booking.id}"}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        return booking, (201 if created else 200), headers

    @requires()
    @bp.arguments(BookingListQuerySchema, location="query")
    @bp.response(200, BookingPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Your bookings; with ``session_id``, a hub lead sees every booking of the session."""
        return queries.bookings_page(current_db(), require_identity(), args)


@bp.route("/<uuid:booking_id>")
class BookingItem(MethodView):
    @requires()
    @bp.response(200, BookingSchema)
    @bp.alt_response(404, description="No such booking, or not yours.")
    def get(self, booking_id: uuid.UUID) -> Any:
        """One booking: your own, or any of a hub you lead (others' answer 404)."""
        return queries.booking(current_db(), require_identity(), booking_id)


@bp.route("/<uuid:booking_id>/calendar.ics")
class BookingCalendar(MethodView):
    @requires()
    @bp.response(200, content_type="text/calendar")
    @bp.alt_response(404, description="No such booking, or not yours.")
    def get(self, booking_id: uuid.UUID) -> Any:
        """Your booking as a calendar file (iCalendar, METHOD:PUBLISH) with the same UID
        as its invites: opening it after the invite updates the event, never doubles it."""
        body = queries.booking_calendar(
            current_db(), runtime().settings, require_identity(), booking_id
        )
        resp = Response(body, content_type="text/calendar; charset=utf-8")
        resp.headers.set("Content-Disposition", "attachment", filename="booking.ics")
        resp.headers["Cache-Control"] = "private, no-store"
        return resp


@bp.route("/<uuid:booking_id>/cancel")
class BookingCancel(MethodView):
    @requires()
    @bp.arguments(CancelSchema, required=False)
    @bp.response(200, BookingSchema)
    @bp.alt_response(404, description="No such booking, or not yours.")
    @bp.alt_response(409, description="The session has started, or the booking has ended.")
    def post(self, data: dict[str, Any] | None, booking_id: uuid.UUID) -> Any:
        """Cancel a booking; the place goes to the first on the waiting list.

        A paid place is refunded by the event's rule (in full when cancelled at least
        ``refund_days_before`` days ahead) when you cancel, in full when the hub does.
        """
        who = require_identity()
        rt = runtime()
        booking = ops.cancel(
            current_db(), rt.settings, who, booking_id, reason=(data or {}).get("reason")
        )
        return payments.after_cancel(current_db(), rt.settings, booking)


@bp.route("/sessions/<uuid:session_id>/availability")
class Availability(MethodView):
    @bp.response(200, AvailabilitySchema)
    @bp.alt_response(404, description="No such session.")
    def get(self, session_id: uuid.UUID) -> Any:
        """Places left on a session (public)."""
        return queries.availability(current_db(), session_id, session_fetcher())


@bp.route("/hubs/<uuid:hub_id>/availability")
class HubAvailability(MethodView):
    @bp.arguments(HubAvailabilityQuerySchema, location="query")
    @bp.response(200, HubAvailabilitySchema)
    def get(self, args: dict[str, Any], hub_id: uuid.UUID) -> Any:
        """Places taken and left on each of a hub's sessions, soonest first (public, like
        a session's own): a hub's programme in one call."""
        return queries.hub_availability(current_db(), hub_id, args.get("since"), args["limit"])


@bp.route("/sessions/<uuid:session_id>/roster")
class Roster(MethodView):
    @requires("hub_lead")
    @bp.arguments(FormatQuerySchema, location="query")
    @bp.response(200, RosterSchema)
    @bp.alt_response(200, description="CSV (?format=csv)", content_type="text/csv")
    @bp.alt_response(403, description="Not a lead of this session's hub.")
    def get(self, args: dict[str, Any], session_id: uuid.UUID) -> Any:
        """Who is booked (places, then the waiting list in order); hub leads only."""
        data = queries.roster(current_db(), require_identity(), session_id)
        if args["format"] == "csv":
            return records.csv_response(
                records.ROSTER_CSV_HEADER,
                records.roster_csv_rows(data),
                f"roster-{session_id}.csv",
            )
        return data


@bp.route("/sessions/<uuid:session_id>/attendance")
class Attendance(MethodView):
    @requires("hub_lead")
    @bp.arguments(AttendanceSchema)
    @bp.response(200, AttendanceResultSchema)
    @bp.alt_response(403, description="Not a lead of this session's hub.")
    @bp.alt_response(409, description="The session has not started, or was cancelled.")
    def post(self, data: dict[str, Any], session_id: uuid.UUID) -> Any:
        """Record who came (``attended``) and who did not (``no_show``); all or nothing."""
        who = require_identity()
        items = ops.record_attendance(
            current_db(), runtime().settings, who, session_id, data["records"]
        )
        return {"items": items}


@bp.route("/sessions/<uuid:session_id>/feedback-summary")
class FeedbackSummary(MethodView):
    @requires("hub_lead")
    @bp.response(200, FeedbackSummarySchema)
    @bp.alt_response(403, description="Not a lead of this session's hub.")
    def get(self, session_id: uuid.UUID) -> Any:
        """Ratings of a session; comments only from 3 responses on (anonymity)."""
        return queries.feedback_summary(current_db(), require_identity(), session_id)


@bp.route("/cpd-record")
class CpdRecord(MethodView):
    @requires()
    @bp.arguments(FormatQuerySchema, location="query")
    @bp.response(200, CpdRecordSchema)
    @bp.alt_response(200, description="CSV (?format=csv)", content_type="text/csv")
    def get(self, args: dict[str, Any]) -> Any:
        """Your CPD hours from attended sessions, per topic and academic year."""
        data = queries.cpd_record(current_db(), require_identity())
        if args["format"] == "csv":
            return records.csv_response(
                records.CPD_CSV_HEADER, records.cpd_csv_rows(data), "cpd-record.csv"
            )
        return data


@bp.route("/<uuid:booking_id>/feedback")
class BookingFeedback(MethodView):
    @requires()
    @bp.arguments(FeedbackCreateSchema)
    @bp.response(201, FeedbackSchema)
    @bp.alt_response(404, description="No such booking, or not yours.")
    @bp.alt_response(409, description="Not attended, or feedback already given.")
    def post(self, data: dict[str, Any], booking_id: uuid.UUID) -> Any:
        """Rate a session you attended (1-5, optional comment), once."""
        who = require_identity()
        return ops.leave_feedback(
            current_db(), who, booking_id, rating=data["rating"], comment=data.get("comment")
        )


@bp.route("/calendar-feeds")
class CalendarFeeds(MethodView):
    @requires()
    @bp.arguments(FeedCreateSchema)
    @bp.response(201, FeedSchema)
    @bp.alt_response(403, description="A hub feed for a hub you do not lead.")
    def post(self, data: dict[str, Any]) -> Any:
        """A private calendar subscription URL (shown only now: keep it secret)."""
        who = require_identity()
        return ops.create_feed(
            current_db(), runtime().settings, who, scope=data["scope"], hub_id=data.get("hub_id")
        )

    @requires()
    @bp.arguments(FeedQuerySchema, location="query")
    @bp.response(200, FeedListSchema)
    @bp.alt_response(403, description="Another hub's feeds, or other people's (not admin).")
    def get(self, query: dict[str, Any]) -> Any:
        """Live feeds (their URLs are not stored, so they are not shown again): yours;
        with ``hub_id`` a hub's (its leads, admins); with ``user_id`` or ``everyone``
        anyone's (admins)."""
        return queries.live_feeds(current_db(), require_identity(), query)


@bp.route("/calendar-feeds/<uuid:feed_id>")
class CalendarFeedItem(MethodView):
    @requires()
    @bp.response(204)
    @bp.alt_response(404, description="No such feed, or not yours.")
    def delete(self, feed_id: uuid.UUID) -> None:
        """Revoke a feed (yours; any, as admin; a hub feed, as that hub's lead): its URL
        answers 404 from now on. Revoking an already revoked feed is a success too."""
        ops.revoke_feed(current_db(), require_identity(), feed_id)
