"""The process over time: a restart on the same state file keeps objects, idempotency keys
and webhooks not yet delivered; SIGTERM ends it cleanly; open sessions expire by
themselves once their ``expires_at`` passes (seen by moving the server's clock on)."""

from __future__ import annotations

import time
import uuid

import pytest
import stripe

from tests.stripe_local.conftest import SECRET, SessionFactory, checkout_params
from tests.support.stripe_local import StripeLocal, WebhookReceiver

# One stripe-local process per module: under xdist its tests stay on one worker.
pytestmark = pytest.mark.xdist_group("stripe_local_lifecycle")


def test_a_restart_keeps_objects_keys_and_undelivered_webhooks(
    stripe_local: StripeLocal,
    client: stripe.StripeClient,
    new_session: SessionFactory,
    receiver: WebhookReceiver,
) -> None:
    key = f"booking-{uuid.uuid4()}"
    params = checkout_params()
    kept = client.v1.checkout.sessions.create(params=params, options={"idempotency_key": key})
    paid = new_session()
    stripe_local.pay(paid.id)
    receiver.wait_for(paid.id)
    waiting = new_session()
    stripe_local.hold_webhooks()
    client.v1.checkout.sessions.expire(waiting.id)

    assert stripe_local.stop() == 0
    assert "stripe-local stopped" in stripe_local.log_tail()
    stripe_local.start()

    assert client.v1.checkout.sessions.retrieve(kept.id).status == "open"
    after = client.v1.checkout.sessions.retrieve(paid.id, params={"expand": ["payment_intent"]})
    assert after.status == "complete" and isinstance(after.payment_intent, stripe.PaymentIntent)
    replay = client.v1.checkout.sessions.create(params=params, options={"idempotency_key": key})
    assert replay.id == kept.id and replay.last_response.headers["Idempotent-Replayed"] == "true"
    assert receiver.events(waiting.id) == []  # still held: the hold is kept too
    assert stripe_local.release_webhooks() == 1
    (hook,) = receiver.wait_for(waiting.id, "checkout.session.expired")
    stripe.Webhook.construct_event(hook.body, hook.signature, SECRET)


def test_open_sessions_expire_by_themselves(
    stripe_local: StripeLocal,
    client: stripe.StripeClient,
    new_session: SessionFactory,
    receiver: WebhookReceiver,
) -> None:
    soon = new_session(expires_at=int(time.time()) + 31 * 60)
    later = new_session(expires_at=int(time.time()) + 3 * 3600)
    paid = new_session(expires_at=int(time.time()) + 31 * 60)
    stripe_local.pay(paid.id)
    stripe_local.advance_clock(32 * 60)
    (hook,) = receiver.wait_for(soon.id, "checkout.session.expired")
    assert hook.event["request"] == {"id": None, "idempotency_key": None}
    assert client.v1.checkout.sessions.retrieve(soon.id).status == "expired"
    assert client.v1.checkout.sessions.retrieve(later.id).status == "open"
    assert client.v1.checkout.sessions.retrieve(paid.id).status == "complete"
    assert receiver.events(paid.id, "checkout.session.expired") == []
