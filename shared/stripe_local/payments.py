"""Payment intents and charges: made when a Checkout Session is paid, read by the product
(``payment_intents.retrieve`` for ``latest_charge``, ``charges.retrieve``)."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, g

from shared.stripe_local.balance import card_fee, create_transaction
from shared.stripe_local.forms import Params
from shared.stripe_local.responses import list_response, respond
from shared.stripe_local.runtime import current
from shared.stripe_local.store import Store, new_id

bp = Blueprint("stripe_local_payments", __name__)


def create_payment(store: Store, session: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The succeeded payment intent and charge (with its balance transaction) for paying
    ``session`` with the test card; metadata from ``payment_intent_data.metadata``."""
    now = store.now()
    amount, currency = session["amount_total"], session["currency"]
    intent_data = session.get("_payment_intent_data", {})
    metadata = dict(intent_data.get("metadata", {}))
    email = session.get("customer_email")
    pi_id, ch_id, pm_id = new_id("pi_"), new_id("ch_"), new_id("pm_")
    txn = create_transaction(
        store, type_="charge", amount=amount, currency=currency, source=ch_id, fee=card_fee(amount)
    )
    charge = store.insert(
        {
            "id": ch_id,
            "object": "charge",
            "amount": amount,
            "amount_captured": amount,
            "amount_refunded": 0,
            "application": None,
            "application_fee": None,
            "application_fee_amount": None,
            "balance_transaction": txn["id"],
            "billing_details": {"address": None, "email": email, "name": None, "phone": None},
            "calculated_statement_descriptor": "EYHUB",
            "captured": True,
            "created": now,
            "currency": currency,
            "customer": None,
            "description": intent_data.get("description"),
            "disputed": False,
            "failure_code": None,
            "failure_message": None,
            "livemode": False,
            "metadata": metadata,
            "outcome": {
                "network_status": "approved_by_network",
                "reason": None,
                "risk_level": "normal",
                "seller_message": "Payment complete.",
                "type": "authorized",
            },
            "paid": True,
            "payment_intent": pi_id,
            "payment_method": pm_id,
            "payment_method_details": {
                "card": {
                    "brand": "visa",
                    "country": "GB",
                    "exp_month": 12,
                    "exp_year": 2034,
                    "funding": "credit",
                    "last4": "4242",
                },
                "type": "card",
            },
            "receipt_email": intent_data.get("receipt_email") or email,
            "refunded": False,
            "status": "succeeded",
        }
    )
    intent = store.insert(
        {
            "id": pi_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": amount,
            "application": None,
            "application_fee_amount": None,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic_async",
            "client_secret": f"{pi_id}_secret_{secrets.token_urlsafe(18)}",
            "confirmation_method": "automatic",
            "created": now,
            "currency": currency,
            "customer": None,
            "description": intent_data.get("description"),
            "last_payment_error": None,
            "latest_charge": ch_id,
            "livemode": False,
            "metadata": metadata,
            "next_action": None,
            "payment_method": pm_id,
            "payment_method_types": ["card"],
            "receipt_email": intent_data.get("receipt_email"),
            "status": "succeeded",
        }
    )
    return intent, charge


def render_charge(store: Store, charge: dict[str, Any]) -> dict[str, Any]:
    """A charge carries the list of its refunds, newest first."""
    refunds = [store.render(r) for r in reversed(store.find("refund", {"charge": charge["id"]}))]
    charge["refunds"] = {
        "object": "list",
        "data": refunds,
        "has_more": False,
        "total_count": len(refunds),
        "url": f"/v1/charges/{charge['id']}/refunds",
    }
    return charge


# -- API ----------------------------------------------------------------------------------


@bp.get("/v1/payment_intents/<pi_id>")
def retrieve_payment_intent(pi_id: str) -> Response:
    g.params.reject_unknown({"expand", "client_secret"})
    return respond(current().store.require("payment_intent", pi_id))


@bp.get("/v1/payment_intents")
def list_payment_intents() -> Response:
    return list_response("payment_intent", "/v1/payment_intents", extra={"customer"})


@bp.get("/v1/charges/<ch_id>")
def retrieve_charge(ch_id: str) -> Response:
    g.params.reject_unknown({"expand"})
    return respond(current().store.require("charge", ch_id))


@bp.get("/v1/charges")
def list_charges() -> Response:
    params: Params = g.params
    where: dict[str, Any] = {}
    if pi_id := params.string("payment_intent"):
        where["payment_intent"] = pi_id
    return list_response("charge", "/v1/charges", where=where, extra={"payment_intent"})
