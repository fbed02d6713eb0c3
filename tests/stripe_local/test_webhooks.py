"""Webhooks: Stripe's event shape and signature, and each way the delivery controls make
them arrive (duplicated, held and reordered, lost, late, resent, retried, abandoned)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import stripe

from shared.stripe_local import API_VERSION
from tests.stripe_local.conftest import SECRET, SessionFactory
from tests.support.stripe_local import StripeLocal, WebhookReceiver, free_port, wait_until

MAX_ATTEMPTS = 4

# One stripe-local process per module: under xdist its tests stay on one worker.
pytestmark = pytest.mark.xdist_group("stripe_local_webhooks")


@pytest.fixture(scope="module")
def stripe_local(receiver: WebhookReceiver) -> Iterator[StripeLocal]:
    """Fewer attempts than the default 8, so giving up is seen in a fraction of a second."""
    with StripeLocal(receiver.url, SECRET, webhook_max_attempts=MAX_ATTEMPTS) as server:
        yield server


def _expire(client: stripe.StripeClient, session: stripe.checkout.Session) -> None:
    client.v1.checkout.sessions.expire(session.id)


def _event_id(client: stripe.StripeClient, object_id: str, kind: str) -> str:
    events = client.v1.events.list(params={"type": kind, "limit": 100})
    (event,) = [e for e in events.auto_paging_iter() if e.data.object.id == object_id]
    return event.id


def test_an_event_is_stripes_shape_and_signed(
    client: stripe.StripeClient,
    new_session: SessionFactory,
    stripe_local: StripeLocal,
    receiver: WebhookReceiver,
) -> None:
    session = new_session()
    stripe_local.pay(session.id)
    (hook,) = receiver.wait_for(session.id, "checkout.session.completed")
    assert hook.headers["Content-Type"].startswith("application/json")
    timestamp, signature = hook.signature.split(",")
    assert timestamp.startswith("t=") and abs(int(timestamp[2:]) - time.time()) < 10
    assert signature.startswith("v1=") and len(signature) == 3 + 64
    event = stripe.Webhook.construct_event(hook.body, hook.signature, SECRET)
    assert event.id.startswith("evt_") and event.object == "event"
    assert (event.type, event.api_version, event.livemode) == (
        "checkout.session.completed",
        API_VERSION,
        False,
    )
    assert event.pending_webhooks == 1
    assert event.data.object.status == "complete"
    stored = client.v1.events.retrieve(event.id)
    assert isinstance(stored, stripe.Event)
    assert stored.data.object.id == session.id
    for wrong_secret in ("whsec_wrong", SECRET + "x"):
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(hook.body, hook.signature, wrong_secret)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            hook.body.replace(b"complete", b"expired"), hook.signature, SECRET
        )


def test_event_request_names_the_api_call(
    client: stripe.StripeClient, new_session: SessionFactory, receiver: WebhookReceiver
) -> None:
    session = new_session()
    key = f"expire-{uuid.uuid4()}"
    expired = client.v1.checkout.sessions.expire(session.id, options={"idempotency_key": key})
    (hook,) = receiver.wait_for(session.id, "checkout.session.expired")
    assert hook.event["request"] == {
        "id": expired.last_response.request_id,
        "idempotency_key": key,
    }


def test_duplicate_delivers_the_next_event_three_times(
    client: stripe.StripeClient,
    new_session: SessionFactory,
    stripe_local: StripeLocal,
    receiver: WebhookReceiver,
) -> None:
    session = new_session()
    stripe_local.duplicate_next(3)
    stripe_local.pay(session.id)
    hooks = receiver.wait_for(session.id, count=3)
    assert {h.event["id"] for h in hooks} == {hooks[0].event["id"]}
    assert len(hooks) == 3
    log = stripe_local.deliveries(hooks[0].event["id"])
    assert [d["outcome"] for d in log] == ["delivered"] * 3
    # Only the next event: the one after is delivered once.
    other = new_session()
    _expire(client, other)
    receiver.wait_for(other.id)
    assert (
        len(stripe_local.deliveries(_event_id(client, other.id, "checkout.session.expired"))) == 1
    )


def test_hold_then_release_in_reverse(
    client: stripe.StripeClient,
    new_session: SessionFactory,
    stripe_local: StripeLocal,
    receiver: WebhookReceiver,
) -> None:
    sessions = [new_session() for _ in range(3)]
    stripe_local.hold_webhooks()
    try:
        for session in sessions:
            _expire(client, session)
        assert stripe_local.control("GET", "/webhooks/deliveries")["pending"] == 3
        assert all(receiver.events(s.id) == [] for s in sessions)
    finally:
        released = stripe_local.release_webhooks("reverse")
    assert released == 3
    for session in sessions:
        receiver.wait_for(session.id)
    ids = [s.id for s in sessions]
    arrived = [
        h.event["data"]["object"]["id"]
        for h in receiver.events()
        if h.event["data"]["object"]["id"] in ids
    ]
    assert arrived == list(reversed(ids))


def test_drop_loses_the_next_event_and_resend_brings_it(
    client: stripe.StripeClient,
    new_session: SessionFactory,
    stripe_local: StripeLocal,
    receiver: WebhookReceiver,
) -> None:
    lost, kept = new_session(), new_session()
    stripe_local.drop_next(1)
    _expire(client, lost)
    _expire(client, kept)
    receiver.wait_for(kept.id)  # delivered in order, so the lost one would be here by now
    assert receiver.events(lost.id) == []
    lost_event = _event_id(client, lost.id, "checkout.session.expired")
    assert [d["outcome"] for d in stripe_local.deliveries(lost_event)] == ["dropped"]
    stripe_local.resend(lost_event)
    (hook,) = receiver.wait_for(lost.id)
    assert hook.event["id"] == lost_event
    stripe.Webhook.construct_event(hook.body, hook.signature, SECRET)


def test_delay_holds_back_only_the_next_event(
    client: stripe.StripeClient,
    new_session: SessionFactory,
    stripe_local: StripeLocal,
    receiver: WebhookReceiver,
) -> None:
    late, prompt = new_session(), new_session()
    stripe_local.delay_next(0.3)
    sent = time.monotonic()
    _expire(client, late)
    _expire(client, prompt)
    (late_hook,) = receiver.wait_for(late.id, timeout=5)
    (prompt_hook,) = receiver.wait_for(prompt.id)
    assert late_hook.at - sent >= 0.3
    assert prompt_hook.at < late_hook.at  # the later event overtook the delayed one


def test_a_failing_endpoint_is_retried_until_it_answers(
    client: stripe.StripeClient,
    new_session: SessionFactory,
    stripe_local: StripeLocal,
    receiver: WebhookReceiver,
) -> None:
    session = new_session()
    receiver.fail_next(2, 500)
    _expire(client, session)
    (hook,) = receiver.wait_for(session.id)
    log = stripe_local.deliveries(hook.event["id"])
    assert [(d["attempt"], d["status"], d["outcome"]) for d in log] == [
        (1, 500, "retry"),
        (2, 500, "retry"),
        (3, 200, "delivered"),
    ]
    assert log[1]["at"] - log[0]["at"] >= 0.04  # backoff (0.05 s) between attempts


def test_an_unreachable_endpoint_is_given_up_after_the_last_attempt(
    client: stripe.StripeClient,
    new_session: SessionFactory,
    stripe_local: StripeLocal,
    receiver: WebhookReceiver,
) -> None:
    session = new_session()
    nowhere = f"http://127.0.0.1:{free_port()}/webhook"
    stripe_local.set_webhook_endpoint(nowhere, SECRET)
    try:
        _expire(client, session)
        event_id = _event_id(client, session.id, "checkout.session.expired")
        log = wait_until(
            lambda: (
                (d := stripe_local.deliveries(event_id)) and d[-1]["outcome"] == "gave_up" and d
            ),
            what="the last attempt",
        )
    finally:
        stripe_local.set_webhook_endpoint(receiver.url, SECRET)
    assert [d["attempt"] for d in log] == list(range(1, MAX_ATTEMPTS + 1))
    assert all(d["status"] is None and "refused" in d["error"].lower() for d in log)
    assert {d["url"] for d in log} == {nowhere}


def test_a_new_endpoint_secret_signs_what_follows(
    client: stripe.StripeClient,
    new_session: SessionFactory,
    stripe_local: StripeLocal,
    receiver: WebhookReceiver,
) -> None:
    session = new_session()
    stripe_local.set_webhook_endpoint(receiver.url, "whsec_rotated")
    try:
        _expire(client, session)
        (hook,) = receiver.wait_for(session.id)
    finally:
        stripe_local.set_webhook_endpoint(receiver.url, SECRET)
    stripe.Webhook.construct_event(hook.body, hook.signature, "whsec_rotated")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(hook.body, hook.signature, SECRET)
