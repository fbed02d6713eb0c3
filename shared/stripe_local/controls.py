"""The test controls under ``/_stripe_local/`` (JSON in and out, no auth: local use only).

They make the stand-in do what Stripe does on its own or on a customer's behalf (pay, pay
out, settle a refund, move time on), and misbehave the ways a real integration meets
(lost, late, duplicated and reordered webhooks, failed API calls, a ledger that disagrees).
The package docstring lists them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from shared.stripe_local import balance, checkout, refunds
from shared.stripe_local.errors import invalid_param
from shared.stripe_local.responses import json_response
from shared.stripe_local.runtime import current

bp = Blueprint("stripe_local_controls", __name__, url_prefix="/_stripe_local")


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise invalid_param("The body must be a JSON object.", "body")
    return body


def _number(body: dict[str, Any], key: str, default: float, *, minimum: float = 0) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise invalid_param(f"{key} must be a number >= {minimum}", key)
    return value


def _ok(**extra: Any) -> Response:
    return json_response({"ok": True, **extra})


@bp.get("/healthz")
def healthz() -> Response:
    return _ok()


@bp.post("/clock")
def clock() -> Response:
    """``{"advance": seconds}``: move business time on (``created``, expiries)."""
    seconds = _number(_body(), "advance", 0)
    return _ok(now=current().store.advance_clock(seconds))


# -- webhooks -----------------------------------------------------------------------------


@bp.post("/webhooks/endpoint")
def webhook_endpoint() -> Response:
    body = _body()
    url, secret = body.get("url"), body.get("secret")
    if url is not None and not isinstance(url, str):
        raise invalid_param("url must be a string or null", "url")
    if not isinstance(secret, str) or not secret:
        raise invalid_param("secret is required", "secret")
    current().webhooks.set_endpoint(url, secret)
    return _ok(url=url)


@bp.post("/webhooks/hold")
def webhooks_hold() -> Response:
    current().webhooks.hold()
    return _ok()


@bp.post("/webhooks/release")
def webhooks_release() -> Response:
    order = _body().get("order", "fifo")
    if order not in ("fifo", "reverse"):
        raise invalid_param("order must be fifo or reverse", "order")
    return _ok(released=current().webhooks.release(order))


@bp.post("/webhooks/duplicate")
def webhooks_duplicate() -> Response:
    copies = int(_number(_body(), "copies", 2, minimum=1))
    current().webhooks.duplicate_next(copies)
    return _ok(copies=copies)


@bp.post("/webhooks/drop")
def webhooks_drop() -> Response:
    count = int(_number(_body(), "count", 1, minimum=1))
    current().webhooks.drop_next(count)
    return _ok(count=count)


@bp.post("/webhooks/delay")
def webhooks_delay() -> Response:
    seconds = _number(_body(), "seconds", 1)
    current().webhooks.delay_next(seconds)
    return _ok(seconds=seconds)


@bp.get("/webhooks/deliveries")
def webhooks_deliveries() -> Response:
    webhooks = current().webhooks
    data = webhooks.deliveries(request.args.get("event_id"))
    return json_response({"object": "list", "data": data, "pending": webhooks.pending()})


@bp.post("/events/<event_id>/resend")
def events_resend(event_id: str) -> Response:
    current().webhooks.resend(event_id)
    return _ok(event=event_id)


# -- API failures -------------------------------------------------------------------------


@bp.post("/fail_next")
def fail_next() -> Response:
    """``{"method", "path", "status", "type", "message", "code", "param", "should_retry"}``:
    the next API request with that method and path prefix fails once with that error."""
    body = _body()
    rule = {
        "method": (body.get("method") or "").upper() or None,
        "path": body.get("path") or "/v1/",
        "status": int(_number(body, "status", 500, minimum=400)),
        "type": body.get("type") or "api_error",
        "message": body.get("message"),
        "code": body.get("code"),
        "param": body.get("param"),
        "should_retry": body.get("should_retry"),
    }
    store = current().store
    with store.tx():
        rules = store.setting("fail_next", [])
        rules.append(rule)
        store.set_setting("fail_next", rules)
    return _ok(rule=rule)


# -- money --------------------------------------------------------------------------------


@bp.post("/checkout/sessions/<session_id>/pay")
def checkout_pay(session_id: str) -> Response:
    rt = current()
    return json_response(rt.store.render(checkout.pay_or_error(session_id)))


@bp.post("/refunds/next_status")
def refunds_next_status() -> Response:
    status = _body().get("status")
    if status not in ("pending", "succeeded"):
        raise invalid_param("status must be pending or succeeded", "status")
    store = current().store
    with store.tx():
        store.set_setting("next_refund_status", status)
    return _ok(status=status)


@bp.post("/refunds/<refund_id>/settle")
def refunds_settle(refund_id: str) -> Response:
    body = _body()
    rt = current()
    refund = refunds.settle_refund(rt, refund_id, body.get("status"), body.get("failure_reason"))
    return json_response(rt.store.render(refund))


@bp.post("/charges/<charge_id>/tamper")
def charges_tamper(charge_id: str) -> Response:
    amount = _body().get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise invalid_param("amount must be an integer (pence)", "amount")
    store = current().store
    return json_response(store.render(balance.tamper(store, charge_id, amount)))


@bp.post("/payouts")
def payouts() -> Response:
    currency = _body().get("currency", "gbp")
    if not isinstance(currency, str):
        raise invalid_param("currency must be a string", "currency")
    store = current().store
    return json_response(store.render(balance.payout_now(store, currency.lower())))
