"""Balance transactions, the balance, payouts and Stripe's UK card fee.

Every money movement (a charge, a refund, a failed refund, a payout) books one balance
transaction, as on Stripe, so the product's reconciliation can add them up. Funds are
available at once (``available_on`` = ``created``, status ``available``) so a payout can be
made in a test without waiting days.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask import Blueprint, Response, g

from shared.stripe_local.errors import invalid_param, invalid_request
from shared.stripe_local.forms import Params
from shared.stripe_local.responses import json_response, list_response, respond
from shared.stripe_local.runtime import current
from shared.stripe_local.store import Store, new_id

bp = Blueprint("stripe_local_balance", __name__)

#: UK standard pricing for domestic cards: 1.5% + 20p.
FEE_PERCENT = Decimal("0.015")
FEE_FIXED = 20

_REPORTING = {
    "charge": "charge",
    "refund": "refund",
    "refund_failure": "refund_failure",
    "payout": "payout",
}
_DESCRIPTIONS = {"charge": None, "refund": "REFUND FOR CHARGE", "payout": "STRIPE PAYOUT"}


def card_fee(amount: int) -> int:
    """Stripe's fee on a charge of ``amount`` pence, rounded half up to the penny."""
    percent = (Decimal(amount) * FEE_PERCENT).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(percent) + FEE_FIXED


def _fee_details(fee: int, currency: str) -> list[dict[str, Any]]:
    if not fee:
        return []
    return [
        {
            "amount": fee,
            "application": None,
            "currency": currency,
            "description": "Stripe processing fees",
            "type": "stripe_fee",
        }
    ]


def create_transaction(
    store: Store, *, type_: str, amount: int, currency: str, source: str, fee: int = 0
) -> dict[str, Any]:
    now = store.now()
    return store.insert(
        {
            "id": new_id("txn_"),
            "object": "balance_transaction",
            "amount": amount,
            "available_on": now,
            "balance_type": "payments",
            "created": now,
            "currency": currency,
            "description": _DESCRIPTIONS.get(type_),
            "exchange_rate": None,
            "fee": fee,
            "fee_details": _fee_details(fee, currency),
            "net": amount - fee,
            "reporting_category": _REPORTING[type_],
            "source": source,
            "status": "available",
            "type": type_,
        }
    )


def tamper(store: Store, charge_id: str, amount: int) -> dict[str, Any]:
    """Make a charge's balance transaction disagree with the charge (fee and net follow)."""
    with store.tx():
        charge = store.require("charge", charge_id)
        txn = store.require("balance_transaction", charge["balance_transaction"])
        fee = card_fee(amount)
        txn.update(
            amount=amount, fee=fee, net=amount - fee, fee_details=_fee_details(fee, txn["currency"])
        )
        return store.save(txn)


def available(store: Store, currency: str) -> int:
    rows = store.execute(
        "SELECT COALESCE(SUM(json_extract(data, '$.net')), 0) FROM objects "
        "WHERE type = 'balance_transaction' AND json_extract(data, '$.currency') = ?",
        (currency,),
    )
    return int(rows[0][0])


def payout_now(store: Store, currency: str = "gbp") -> dict[str, Any]:
    """Pay the whole available balance out; the balance transactions it settles are
    listed by ``GET /v1/balance_transactions?payout=po_...``, as on Stripe."""
    with store.tx():
        amount = available(store, currency)
        if amount <= 0:
            raise invalid_request(
                "You have insufficient funds in your Stripe account for this transfer.",
                code="balance_insufficient",
            )
        now = store.now()
        payout_id = new_id("po_")
        txn = create_transaction(
            store, type_="payout", amount=-amount, currency=currency, source=payout_id
        )
        for settled in store.find("balance_transaction", {"currency": currency}):
            if settled.get("_payout") is None:
                settled["_payout"] = payout_id
                store.save(settled)
        return store.insert(
            {
                "id": payout_id,
                "object": "payout",
                "amount": amount,
                "application_fee": None,
                "application_fee_amount": None,
                "arrival_date": now + 86400,
                "automatic": True,
                "balance_transaction": txn["id"],
                "created": now,
                "currency": currency,
                "description": "STRIPE PAYOUT",
                "destination": None,
                "failure_balance_transaction": None,
                "failure_code": None,
                "failure_message": None,
                "livemode": False,
                "metadata": {},
                "method": "standard",
                "original_payout": None,
                "reconciliation_status": "completed",
                "reversed_by": None,
                "source_type": "card",
                "statement_descriptor": None,
                "status": "paid",
                "type": "bank_account",
            }
        )


# -- API ----------------------------------------------------------------------------------


@bp.get("/v1/balance_transactions")
def list_balance_transactions() -> Response:

    params: Params = g.params
    where: dict[str, Any] = {}
    for field, key in (("type", "type"), ("currency", "currency"), ("source", "source")):
        if value := params.string(field):
            where[key] = value
    if payout := params.string("payout"):
        where["_payout"] = payout
    return list_response(
        "balance_transaction",
        "/v1/balance_transactions",
        where=where,
        extra={"type", "currency", "source", "payout"},
    )


@bp.get("/v1/balance_transactions/<txn_id>")
def retrieve_balance_transaction(txn_id: str) -> Response:

    return respond(current().store.require("balance_transaction", txn_id))


@bp.get("/v1/payouts")
def list_payouts() -> Response:

    params: Params = g.params
    where: dict[str, Any] = {}
    if status := params.string("status"):
        if status not in {"paid", "pending", "in_transit", "canceled", "failed"}:
            raise invalid_param(f"Invalid status: {status}", "status")
        where["status"] = status
    return list_response(
        "payout",
        "/v1/payouts",
        where=where,
        ranges=("created", "arrival_date"),
        extra={"status", "destination"},
    )


@bp.get("/v1/payouts/<payout_id>")
def retrieve_payout(payout_id: str) -> Response:

    return respond(current().store.require("payout", payout_id))


@bp.get("/v1/balance")
def retrieve_balance() -> Response:

    store = current().store
    rows = store.execute(
        "SELECT DISTINCT json_extract(data, '$.currency') FROM objects "
        "WHERE type = 'balance_transaction'"
    )
    currencies = sorted(r[0] for r in rows) or ["gbp"]
    return json_response(
        {
            "object": "balance",
            "available": [
                {"amount": available(store, c), "currency": c, "source_types": {"card": 0}}
                for c in currencies
            ],
            "livemode": False,
            "pending": [
                {"amount": 0, "currency": c, "source_types": {"card": 0}} for c in currencies
            ],
        }
    )
