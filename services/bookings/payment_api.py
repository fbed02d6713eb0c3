"""Card payment routes under ``/api/bookings``: checkout, offers, refunds, Stripe's webhook.

The state changes live in ``services/bookings/payments.py``; these views only check
who asks and shape the answer.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from services.bookings import payments
from services.bookings.schemas import BookingSchema, RefundSchema, WebhookReceiptSchema
from shared.auth import require_identity, requires
from shared.problems import Problem
from shared.web import current_db, runtime

bp = Blueprint(
    "payments",
    __name__,
    url_prefix="/api/bookings",
    description="Card payments for paid sessions (Stripe Checkout), offers and refunds.",
)


@bp.route("/<uuid:booking_id>/checkout")
class BookingCheckout(MethodView):
    @requires()
    @bp.response(200, BookingSchema)
    @bp.alt_response(404, description="No such booking, or not yours.")
    @bp.alt_response(409, description="The booking is not waiting for payment.")
    @bp.alt_response(503, description="Stripe could not be reached; the place stays held.")
    def post(self, booking_id: uuid.UUID) -> Any:
        """Where to pay for a held place: the live Checkout Session, or a new one."""
        return payments.checkout_for(
            current_db(), runtime().settings, require_identity(), booking_id
        )


@bp.route("/<uuid:booking_id>/accept-offer")
class BookingAcceptOffer(MethodView):
    @requires()
    @bp.response(200, BookingSchema)
    @bp.alt_response(404, description="No such booking, or not yours.")
    @bp.alt_response(409, description="No offer to accept, or it has lapsed.")
    @bp.alt_response(503, description="Stripe could not be reached; the place stays held.")
    def post(self, booking_id: uuid.UUID) -> Any:
        """Take the place a paid session's waiting list offered you, and pay for it.

        To decline, cancel the booking: the offer passes to the next person at once.
        """
        return payments.accept_offer(
            current_db(), runtime().settings, require_identity(), booking_id
        )


@bp.route("/<uuid:booking_id>/refund")
class BookingRefund(MethodView):
    @requires("hub_lead", "admin")
    @bp.arguments(RefundSchema, required=False)
    @bp.response(200, BookingSchema)
    @bp.alt_response(404, description="No such booking, or not of a hub you lead.")
    @bp.alt_response(409, description="Nothing is left to refund.")
    def post(self, data: dict[str, Any] | None, booking_id: uuid.UUID) -> Any:
        """Refund a card payment in full or in part (hub leads of the session's hub, admins)."""
        return payments.refund_booking(
            current_db(),
            runtime().settings,
            require_identity(),
            booking_id,
            amount_pence=(data or {}).get("amount_pence"),
        )


@bp.route("/stripe/webhook")
class StripeWebhook(MethodView):
    @bp.response(200, WebhookReceiptSchema)
    @bp.alt_response(400, description="Not a Stripe event signed with our endpoint's secret.")
    def post(self) -> Any:
        """Stripe's events (signature-verified). Each event id is applied once; unknown
        types are acknowledged and ignored."""
        try:
            outcome = payments.handle_webhook(
                current_db(),
                runtime().settings,
                request.get_data(cache=True),
                request.headers.get("Stripe-Signature"),
            )
        except payments.BadSignature as exc:
            raise Problem(
                400,
                "Bad request",
                f"Not a valid Stripe webhook: {exc}",
                kind="bad-webhook-signature",
            ) from None
        return {"received": True, "outcome": outcome}
