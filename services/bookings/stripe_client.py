"""The one place bookings talks to Stripe: the official ``stripe`` SDK, nothing else.

Production points it at api.stripe.com with ``STRIPE_API_KEY``; without a key it talks
to the local stand-in (shared/stripe_local, started by ``eyhub up`` and by the tests)
through exactly the same calls. Every write carries an idempotency key chosen from our
own ids, so a retried request (ours or the SDK's) never charges or refunds twice.
Any failure to reach Stripe surfaces as ``StripeUnavailable``: callers keep their state
and answer a 503 or retry later; nothing here holds a database transaction open.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import stripe

from shared.config import Settings

log = logging.getLogger("eyhub.bookings.stripe")

#: Stripe accepts a Checkout Session lifetime between 30 minutes and 24 hours.
CHECKOUT_MIN = timedelta(minutes=30, seconds=60)
CHECKOUT_MAX = timedelta(hours=23, minutes=59)
CURRENCY = "gbp"


class StripeUnavailable(Exception):
    """Stripe could not be reached or refused the call; nothing was changed on our side."""


@cache
def _client(api_key: str, api_base: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base},
        max_network_retries=2,  # the SDK retries POSTs with the same idempotency key
        http_client=stripe.RequestsClient(timeout=10),
    )


def client(settings: Settings) -> stripe.StripeClient:
    return _client(settings.stripe_key, settings.stripe_api_base)


def _call(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except stripe.InvalidRequestError:
        raise  # our request was wrong (or the object's state forbids it): callers decide
    except stripe.StripeError as exc:
        log.warning("stripe call failed", extra={"call": what, "error": str(exc)[:300]})
        raise StripeUnavailable(what) from exc


@dataclass(frozen=True)
class Checkout:
    id: str
    url: str
    expires_at: datetime


def checkout_expiry(hold_expires_at: datetime, now: datetime) -> datetime:
    """When Stripe should stop taking payment: never before the hold ends (so a payment
    within the hold always lands), within Stripe's 30 min to 24 h window."""
    return min(max(hold_expires_at, now + CHECKOUT_MIN), now + CHECKOUT_MAX)


def create_checkout(
    settings: Settings,
    *,
    idempotency_key: str,
    booking_id: str,
    amount_pence: int,
    title: str,
    email: str,
    metadata: dict[str, str],
    success_url: str,
    cancel_url: str,
    expires_at: datetime,
) -> Checkout:
    """A hosted Checkout Session for one place; the booking id is its client reference."""
    session = _call(
        "checkout.sessions.create",
        client(settings).v1.checkout.sessions.create,
        params={
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": CURRENCY,
                        "unit_amount": amount_pence,
                        "product_data": {"name": title[:250]},
                    },
                    "quantity": 1,
                }
            ],
            "client_reference_id": booking_id,
            "customer_email": email,
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "success_url": success_url,
            "cancel_url": cancel_url,
            "expires_at": int(expires_at.timestamp()),
        },
        options={"idempotency_key": idempotency_key},
    )
    return Checkout(session.id, session.url, datetime.fromtimestamp(session.expires_at, UTC))


def retrieve_checkout(settings: Settings, checkout_id: str) -> stripe.checkout.Session:
    return _call(  # type: ignore[no-any-return]
        "checkout.sessions.retrieve",
        client(settings).v1.checkout.sessions.retrieve,
        checkout_id,
        params={"expand": ["payment_intent"]},
    )


def expire_checkout(settings: Settings, checkout_id: str) -> stripe.checkout.Session:
    """Stop a session taking payment; InvalidRequestError if it completed meanwhile."""
    return _call(  # type: ignore[no-any-return]
        "checkout.sessions.expire",
        client(settings).v1.checkout.sessions.expire,
        checkout_id,
        options={"idempotency_key": f"expire-{checkout_id}"},
    )


def charge_of(settings: Settings, payment_intent: str | dict[str, Any] | None) -> str | None:
    """The charge behind a payment intent (an id, or an expanded object as a dict)."""
    if payment_intent is None:
        return None
    if isinstance(payment_intent, str):
        payment_intent = _call(
            "payment_intents.retrieve", client(settings).v1.payment_intents.retrieve, payment_intent
        ).to_dict()
    charge = payment_intent.get("latest_charge")
    return charge if isinstance(charge, str) or charge is None else str(charge["id"])


def create_refund(
    settings: Settings,
    *,
    idempotency_key: str,
    payment_intent: str,
    amount_pence: int,
    metadata: dict[str, str],
) -> stripe.Refund:
    return _call(  # type: ignore[no-any-return]
        "refunds.create",
        client(settings).v1.refunds.create,
        params={
            "payment_intent": payment_intent,
            "amount": amount_pence,
            "reason": "requested_by_customer",
            "metadata": metadata,
        },
        options={"idempotency_key": idempotency_key},
    )


def construct_event(settings: Settings, payload: bytes, signature: str | None) -> stripe.Event:
    """A verified webhook event; ``stripe.SignatureVerificationError`` or ``ValueError``
    when the signature or the body is not Stripe's."""
    return client(settings).construct_event(payload, signature or "", settings.webhook_secret())
