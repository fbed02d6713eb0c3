"""Checkout Sessions (``mode=payment`` with ``price_data`` line items) and the hosted page a
customer pays on.

Stripe's rules that the product must live with are enforced: ``expires_at`` 30 minutes to
24 hours after creation (default 24 hours), ``expire`` only on an open session, and a
session that is still open at ``expires_at`` is expired by the server itself (the runtime's
maintenance thread), sending ``checkout.session.expired``. Cancelling on the hosted page
leaves the session open, as on Stripe.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, g, redirect, render_template
from werkzeug.wrappers import Response as BaseResponse

from shared.stripe_local.errors import StripeError, invalid_param, invalid_request
from shared.stripe_local.forms import Params
from shared.stripe_local.payments import create_payment
from shared.stripe_local.responses import list_response, respond
from shared.stripe_local.runtime import Runtime, current
from shared.stripe_local.store import new_id

bp = Blueprint("stripe_local_checkout", __name__, template_folder="templates")

MIN_EXPIRY = 30 * 60
MAX_EXPIRY = 24 * 3600

#: Accepted create parameters: the ones the stand-in uses, plus common ones it ignores
#: (accepted so that a real-Stripe request is not refused here).
CREATE_PARAMS = {
    "allow_promotion_codes",
    "billing_address_collection",
    "cancel_url",
    "client_reference_id",
    "currency",
    "customer_creation",
    "customer_email",
    "expand",
    "expires_at",
    "line_items",
    "locale",
    "metadata",
    "mode",
    "payment_intent_data",
    "payment_method_types",
    "submit_type",
    "success_url",
    "ui_mode",
}
PAYMENT_INTENT_DATA = {
    "capture_method",
    "description",
    "metadata",
    "receipt_email",
    "setup_future_usage",
    "statement_descriptor",
    "statement_descriptor_suffix",
}
_SYMBOLS = {"gbp": "£", "usd": "$", "eur": "€"}
_ZERO_DECIMAL = {"jpy", "krw", "vnd", "clp", "isk", "ugx", "xof", "xaf"}
#: Stripe's minimum charge per currency (smallest unit).
MINIMUM_AMOUNT = {"gbp": 30, "usd": 50, "eur": 50}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def format_amount(amount: int, currency: str) -> str:
    """``4500, "gbp"`` -> ``£45.00``, as Stripe writes amounts in its messages."""
    currency = currency.lower()
    major = f"{amount:,}" if currency in _ZERO_DECIMAL else f"{Decimal(amount) / 100:,.2f}"
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{major}" if symbol else f"{major} {currency.upper()}"


def _url(params: Params, key: str) -> str | None:
    value = params.string(key, max_length=5000)
    if value is not None and not re.match(r"^https?://[^\s/]+", value):
        raise invalid_param("Not a valid URL", key, code="url_invalid")
    return value


def _line_items(params: Params) -> tuple[list[dict[str, Any]], str]:
    items = params.array("line_items", required=True)
    out: list[dict[str, Any]] = []
    currency: str | None = None
    for i in range(len(items)):
        item = params.item("line_items", i)
        item.reject_unknown({"price", "price_data", "quantity", "adjustable_quantity"})
        if price := item.string("price"):
            raise invalid_request(
                f"No such price: '{price}'", item.name("price"), code="resource_missing"
            )
        price_data = item.obj("price_data", required=True)
        assert price_data is not None
        price_data.reject_unknown(
            {"currency", "unit_amount", "product_data", "product", "tax_behavior"}
        )
        item_currency = (price_data.string("currency", required=True) or "").lower()
        if not re.fullmatch(r"[a-z]{3}", item_currency):
            raise invalid_param(f"Invalid currency: {item_currency}", price_data.name("currency"))
        if currency is not None and item_currency != currency:
            raise invalid_param(
                "All line items must be in the same currency.", price_data.name("currency")
            )
        currency = item_currency
        unit_amount = price_data.integer("unit_amount", required=True, minimum=0)
        if product := price_data.string("product"):
            raise invalid_request(
                f"No such product: '{product}'",
                price_data.name("product"),
                code="resource_missing",
            )
        product_data = price_data.obj("product_data", required=True)
        assert product_data is not None
        product_data.reject_unknown({"name", "description", "images", "metadata", "tax_code"})
        name = product_data.string("name", required=True, max_length=250)
        quantity = item.integer("quantity", required=True, minimum=1)
        assert unit_amount is not None and quantity is not None
        out.append(
            {
                "name": name,
                "description": product_data.string("description"),
                "unit_amount": unit_amount,
                "quantity": quantity,
                "amount": unit_amount * quantity,
            }
        )
    if not out:
        raise invalid_param("line_items must have at least one item", "line_items")
    assert currency is not None
    return out, currency


def create_session(rt: Runtime, params: Params) -> dict[str, Any]:
    store = rt.store
    params.reject_unknown(CREATE_PARAMS)
    mode = params.choice("mode", ("payment", "setup", "subscription"), required=True)
    if mode != "payment":
        raise invalid_param("stripe-local supports only mode=payment", "mode")
    line_items, currency = _line_items(params)
    success_url = _url(params, "success_url")
    cancel_url = _url(params, "cancel_url")
    email = params.string("customer_email", max_length=800)
    if email is not None and not _EMAIL.match(email):
        raise invalid_param(
            f"Invalid email address: {email}", "customer_email", code="email_invalid"
        )
    reference = params.string("client_reference_id", max_length=200)
    metadata = params.metadata()
    intent_data: dict[str, Any] = {}
    if (pid := params.obj("payment_intent_data")) is not None:
        pid.reject_unknown(PAYMENT_INTENT_DATA)
        intent_data = {
            "metadata": pid.metadata(),
            "description": pid.string("description", max_length=1000),
            "receipt_email": pid.string("receipt_email"),
        }
    created = store.now()
    expires_at = params.integer("expires_at")
    if expires_at is None:
        expires_at = created + MAX_EXPIRY
    elif expires_at - created < MIN_EXPIRY:
        raise invalid_param(
            "The expires_at timestamp must be at least 30 minutes from Checkout Session creation.",
            "expires_at",
        )
    elif expires_at - created > MAX_EXPIRY:
        raise invalid_param(
            "The expires_at timestamp must be less than 24 hours from Checkout Session creation.",
            "expires_at",
        )
    total = sum(item["amount"] for item in line_items)
    minimum = MINIMUM_AMOUNT.get(currency, 0)
    if total < minimum:
        raise invalid_param(
            "The Checkout Session's total amount due must add up to at least "
            f"{format_amount(minimum, currency)} {currency}",
            "line_items",
            code="amount_too_small",
        )
    session_id = new_id("cs_test_", 58)
    session = {
        "id": session_id,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": total,
        "amount_total": total,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": cancel_url,
        "client_reference_id": reference,
        "client_secret": None,
        "created": created,
        "currency": currency,
        "customer": None,
        "customer_creation": "if_required",
        "customer_details": None,
        "customer_email": email,
        "expires_at": expires_at,
        "invoice": None,
        "livemode": False,
        "locale": params.string("locale"),
        "metadata": metadata,
        "mode": mode,
        "payment_intent": None,
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "status": "open",
        "submit_type": params.string("submit_type"),
        "success_url": success_url,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": f"{rt.public_base()}/pay/{session_id}",
        "_line_items": line_items,
        "_payment_intent_data": intent_data,
    }
    with store.tx():
        return store.insert(session)


def _expire(rt: Runtime, session: dict[str, Any]) -> dict[str, Any]:
    session.update(status="expired", url=None)
    rt.store.save(session)
    rt.webhooks.emit("checkout.session.expired", session)
    return session


def _expire_if_due(rt: Runtime, session: dict[str, Any]) -> None:
    if session["status"] == "open" and session["expires_at"] <= rt.store.now():
        _expire(rt, session)


def expire_session(rt: Runtime, session_id: str) -> dict[str, Any]:
    with rt.store.tx():
        session = rt.store.require("checkout.session", session_id)
        if session["status"] != "open":
            raise invalid_request(
                'Only Checkout Sessions with a status in ["open"] can be expired. This '
                f"Checkout Session has a status of `{session['status']}`."
            )
        return _expire(rt, session)


def expire_due_sessions(rt: Runtime) -> int:
    """Expire open sessions past ``expires_at``; the maintenance thread calls this."""
    now = rt.store.now()
    count = 0
    for session in rt.store.find("checkout.session", {"status": "open"}):
        if session["expires_at"] <= now:
            with rt.store.tx():
                fresh = rt.store.require("checkout.session", session["id"])
                if fresh["status"] == "open":
                    _expire_if_due(rt, fresh)
                    count += fresh["status"] == "expired"
    return count


def pay_session(rt: Runtime, session_id: str) -> tuple[dict[str, Any], str]:
    """Pay with the test card: ``(session, "paid" | "complete" | "expired")``. A session
    past ``expires_at`` that the sweep has not reached yet expires here instead."""
    store = rt.store
    with store.tx():
        session = store.require("checkout.session", session_id)
        _expire_if_due(rt, session)
        if session["status"] != "open":
            return session, session["status"]
        intent, _charge = create_payment(store, session)
        session.update(
            status="complete",
            payment_status="paid",
            payment_intent=intent["id"],
            url=None,
            customer_details={
                "address": None,
                "email": session["customer_email"],
                "name": None,
                "phone": None,
                "tax_exempt": "none",
                "tax_ids": [],
            },
        )
        store.save(session)
        rt.webhooks.emit("checkout.session.completed", session)
        return session, "paid"


def success_redirect(session: dict[str, Any]) -> str | None:
    url = session.get("success_url")
    return url.replace("{CHECKOUT_SESSION_ID}", session["id"]) if url else None


# -- API ----------------------------------------------------------------------------------


@bp.post("/v1/checkout/sessions")
def create() -> Response:
    return respond(create_session(current(), g.params))


@bp.get("/v1/checkout/sessions")
def list_sessions() -> Response:
    params: Params = g.params
    where: dict[str, Any] = {}
    if status := params.choice("status", ("open", "complete", "expired")):
        where["status"] = status
    if pi_id := params.string("payment_intent"):
        where["payment_intent"] = pi_id
    return list_response(
        "checkout.session",
        "/v1/checkout/sessions",
        where=where,
        extra={"status", "payment_intent", "customer"},
    )


@bp.get("/v1/checkout/sessions/<session_id>")
def retrieve(session_id: str) -> Response:
    g.params.reject_unknown({"expand"})
    return respond(current().store.require("checkout.session", session_id))


@bp.post("/v1/checkout/sessions/<session_id>")
def update(session_id: str) -> Response:
    """Only ``metadata`` can change (merged; an empty value removes a key, as on Stripe)."""
    params: Params = g.params
    params.reject_unknown({"metadata", "expand"})
    store = current().store
    with store.tx():
        session = store.require("checkout.session", session_id)
        raw = params.data.get("metadata")
        if isinstance(raw, dict):
            merged = {**session["metadata"], **raw}
            session["metadata"] = Params({"metadata": merged}).metadata()
        elif raw == "":
            session["metadata"] = {}
        store.save(session)
    return respond(session)


@bp.post("/v1/checkout/sessions/<session_id>/expire")
def expire(session_id: str) -> Response:
    g.params.reject_unknown({"expand"})
    return respond(expire_session(current(), session_id))


# -- the hosted page ----------------------------------------------------------------------


def _page(state: str, session: dict[str, Any] | None, status: int) -> Response:
    context: dict[str, Any] = {"state": state, "session": session}
    if session is not None:
        currency = session["currency"]
        context.update(
            items=[
                {**item, "amount_text": format_amount(item["amount"], currency)}
                for item in session["_line_items"]
            ],
            total=format_amount(session["amount_total"], currency),
            base=f"{current().public_base()}/pay/{session['id']}",
            success=success_redirect(session),
        )
    return Response(render_template("stripe_local/checkout.html", **context), status)


def not_found_page() -> Response:
    return _page("missing", None, 404)


def _session_or_none(session_id: str) -> dict[str, Any] | None:
    session = current().store.get(session_id)
    return session if session and session["object"] == "checkout.session" else None


@bp.get("/pay/<session_id>")
def page(session_id: str) -> Response:
    if _session_or_none(session_id) is None:
        return not_found_page()
    rt = current()
    with rt.store.tx():
        session = rt.store.require("checkout.session", session_id)
        _expire_if_due(rt, session)
    status = {"open": 200, "complete": 200, "expired": 410}[session["status"]]
    return _page(session["status"], session, status)


@bp.post("/pay/<session_id>/pay")
def page_pay(session_id: str) -> BaseResponse:
    if _session_or_none(session_id) is None:
        return not_found_page()
    session, outcome = pay_session(current(), session_id)
    if outcome == "expired":
        return _page("expired", session, 410)
    target = success_redirect(session)
    if target:
        return redirect(target, 303)
    return _page("complete", session, 200)


@bp.post("/pay/<session_id>/cancel")
def page_cancel(session_id: str) -> BaseResponse:
    session = _session_or_none(session_id)
    if session is None:
        return not_found_page()
    if session.get("cancel_url"):
        return redirect(session["cancel_url"], 303)
    return _page("cancelled", session, 200)


def pay_or_error(session_id: str) -> dict[str, Any]:
    """The JSON control's pay: the session, or Stripe's error for an expired one."""
    session, outcome = pay_session(current(), session_id)
    if outcome == "expired":
        raise StripeError(
            410,
            "invalid_request_error",
            f"Checkout Session {session_id} has expired and can no longer be paid.",
            code="checkout_session_expired",
        )
    return session
