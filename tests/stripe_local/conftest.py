"""One stripe-local process and one webhook receiver per test module, and the product's
Checkout Session request (bookings' and budget's shape) as a factory."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import stripe

from tests.support.stripe_local import StripeLocal, WebhookReceiver

SECRET = "whsec_test_eyhub_contract"

SessionFactory = Callable[..., stripe.checkout.Session]


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


@pytest.fixture(scope="module")
def stripe_local(receiver: WebhookReceiver) -> Iterator[StripeLocal]:
    with StripeLocal(receiver.url, SECRET) as server:
        yield server


@pytest.fixture(scope="module")
def client(stripe_local: StripeLocal) -> stripe.StripeClient:
    return stripe_local.client()


def checkout_params(
    amount: int = 4500, name: str = "Forest school, Tuesday", **overrides: Any
) -> dict[str, Any]:
    """What bookings sends for a paid place (ids made up per call)."""
    booking_id = f"bk_{uuid.uuid4().hex[:8]}"
    metadata = {
        "booking_id": booking_id,
        "hub_id": "hub_1",
        "session_id": "sess_1",
        "event_id": "ev_1",
    }
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "gbp",
                    "unit_amount": amount,
                    "product_data": {"name": name},
                },
                "quantity": 1,
            }
        ],
        "client_reference_id": booking_id,
        "customer_email": "parent@example.org",
        "metadata": metadata,
        "payment_intent_data": {"metadata": dict(metadata)},
        "success_url": "http://127.0.0.1:9/bookings/paid?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://127.0.0.1:9/bookings/cancelled",
        "expires_at": int(time.time()) + 3600,
    }
    params.update(overrides)
    return params


@pytest.fixture
def new_session(client: stripe.StripeClient) -> SessionFactory:
    """Create a Checkout Session as the product does (a fresh idempotency key each)."""

    def create(**overrides: Any) -> stripe.checkout.Session:
        return client.v1.checkout.sessions.create(
            params=checkout_params(**overrides),
            options={"idempotency_key": f"checkout-{uuid.uuid4()}"},
        )

    return create


@pytest.fixture
def paid_session(
    new_session: SessionFactory, stripe_local: StripeLocal, client: stripe.StripeClient
) -> SessionFactory:
    """A session paid with the test card, read back with its payment intent expanded."""

    def make(**overrides: Any) -> stripe.checkout.Session:
        session = new_session(**overrides)
        stripe_local.pay(session.id)
        return client.v1.checkout.sessions.retrieve(
            session.id, params={"expand": ["payment_intent"]}
        )

    return make
