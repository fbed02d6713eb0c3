"""Refunds by payment intent or charge, full or partial, succeeded at once or left pending
(a test control) and settled later to succeeded or failed.

As on Stripe, a pending refund already counts in the charge's ``amount_refunded`` and has
its (negative) balance transaction; a failed one gives the money back through a
``refund_failure`` balance transaction. ``charge.refunded`` goes out when a refund
succeeds, ``refund.failed`` when a pending one fails.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g

from shared.stripe_local.balance import create_transaction
from shared.stripe_local.checkout import format_amount
from shared.stripe_local.errors import invalid_param, invalid_request
from shared.stripe_local.forms import Params
from shared.stripe_local.responses import list_response, respond
from shared.stripe_local.runtime import Runtime, current
from shared.stripe_local.store import new_id

bp = Blueprint("stripe_local_refunds", __name__)

REASONS = ("duplicate", "fraudulent", "requested_by_customer")
CREATE_PARAMS = {
    "amount",
    "charge",
    "currency",
    "customer",
    "expand",
    "instructions_email",
    "metadata",
    "origin",
    "payment_intent",
    "reason",
    "refund_application_fee",
    "reverse_transfer",
}
FAILURE_REASONS = (
    "lost_or_stolen_card",
    "expired_or_canceled_card",
    "charge_for_pending_refund_disputed",
    "insufficient_funds",
    "declined",
    "merchant_request",
    "unknown",
)


def create_refund(rt: Runtime, params: Params) -> dict[str, Any]:
    params.reject_unknown(CREATE_PARAMS)
    charge_id = params.string("charge")
    pi_id = params.string("payment_intent")
    amount = params.integer("amount")
    if amount is not None and amount < 1:
        raise invalid_param("Invalid positive integer", "amount")
    reason = params.choice("reason", REASONS)
    metadata = params.metadata()
    if not charge_id and not pi_id:
        raise invalid_request(
            "One of the following params should be provided for this request: "
            "payment_intent or charge.",
            validation=True,
        )
    store = rt.store
    with store.tx():
        if pi_id:
            intent = store.require("payment_intent", pi_id, "payment_intent")
            if charge_id and charge_id != intent["latest_charge"]:
                raise invalid_request(
                    f"The charge {charge_id} does not belong to payment intent {pi_id}.",
                    "charge",
                )
            charge_id = intent["latest_charge"]
        assert charge_id is not None
        charge = store.require("charge", charge_id, "charge")
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise invalid_request(
                f"Charge {charge_id} has already been refunded.", code="charge_already_refunded"
            )
        if amount is None:
            amount = remaining
        elif amount > remaining:
            currency = charge["currency"]
            what = (
                "charge amount" if remaining == charge["amount"] else "unrefunded amount on charge"
            )
            raise invalid_request(
                f"Refund amount ({format_amount(amount, currency)}) is greater than {what} "
                f"({format_amount(remaining, currency)})",
                "amount",
                code="amount_too_large",
            )
        status = store.setting("next_refund_status") or "succeeded"
        store.set_setting("next_refund_status", None)
        refund_id = new_id("re_")
        txn = create_transaction(
            store, type_="refund", amount=-amount, currency=charge["currency"], source=refund_id
        )
        refund = store.insert(
            {
                "id": refund_id,
                "object": "refund",
                "amount": amount,
                "balance_transaction": txn["id"],
                "charge": charge_id,
                "created": store.now(),
                "currency": charge["currency"],
                "destination_details": {
                    "card": {"reference_status": "pending", "type": "refund"},
                    "type": "card",
                },
                "metadata": metadata,
                "payment_intent": charge["payment_intent"],
                "reason": reason,
                "receipt_number": None,
                "source_transfer_reversal": None,
                "status": status,
                "transfer_reversal": None,
            }
        )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        store.save(charge)
        if status == "succeeded":
            rt.webhooks.emit("charge.refunded", charge)
        return refund


def settle_refund(
    rt: Runtime, refund_id: str, status: str, failure_reason: str | None = None
) -> dict[str, Any]:
    """Finish a pending refund: ``succeeded`` (``charge.refunded``) or ``failed``
    (money back on the balance, ``refund.failed``)."""
    if status not in ("succeeded", "failed"):
        raise invalid_param("status must be succeeded or failed", "status")
    reason = failure_reason or "expired_or_canceled_card"
    if reason not in FAILURE_REASONS:
        raise invalid_param(f"failure_reason must be one of {', '.join(FAILURE_REASONS)}", "reason")
    store = rt.store
    with store.tx():
        refund = store.require("refund", refund_id)
        if refund["status"] != "pending":
            raise invalid_request(
                f"Refund {refund_id} is not pending (its status is {refund['status']}).",
                "status",
            )
        charge = store.require("charge", refund["charge"])
        refund["status"] = status
        if status == "succeeded":
            store.save(refund)
            rt.webhooks.emit("charge.refunded", charge)
            return refund
        failure = create_transaction(
            store,
            type_="refund_failure",
            amount=refund["amount"],
            currency=refund["currency"],
            source=refund_id,
        )
        refund["failure_reason"] = reason
        refund["failure_balance_transaction"] = failure["id"]
        store.save(refund)
        charge["amount_refunded"] -= refund["amount"]
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        store.save(charge)
        rt.webhooks.emit("refund.failed", refund)
        return refund


# -- API ----------------------------------------------------------------------------------


@bp.post("/v1/refunds")
def create() -> Response:
    return respond(create_refund(current(), g.params))


@bp.get("/v1/refunds/<refund_id>")
def retrieve(refund_id: str) -> Response:
    g.params.reject_unknown({"expand"})
    return respond(current().store.require("refund", refund_id))


@bp.get("/v1/refunds")
def list_refunds() -> Response:
    params: Params = g.params
    where: dict[str, Any] = {}
    for field in ("charge", "payment_intent"):
        if value := params.string(field):
            where[field] = value
    return list_response("refund", "/v1/refunds", where=where, extra={"charge", "payment_intent"})
