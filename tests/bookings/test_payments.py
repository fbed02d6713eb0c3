"""Card payments: the bookings app against the Stripe stand-in as a real process.

Webhooks are signed by the stand-in and handed to the app byte for byte, in the order
each test chooses (duplicated, reordered, lost). Holds expire by running the worker's
job with a clock moved past them, not by waiting.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from services.bookings import jobs, operations, payments
from services.bookings.models import Booking, Payment, Refund, StripeEvent
from shared.events import bookings as events
from shared.messaging.models import OutboxMessage
from tests.bookings.conftest import BookingsApp, future
from tests.support.stripe_local import Received

PRICE = 4500
#: For tests about our handling of Stripe's answers rather than the database's locking:
#: the embedded backend only (the suite's time on 2 cores is bounded).
EMBEDDED_ONLY = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


def _paid_session(bapp: BookingsApp, **overrides: Any) -> dict[str, Any]:
    return bapp.add_session(price_pence=PRICE, **overrides)


def _events(bapp: BookingsApp, event_type: str) -> list[dict[str, Any]]:
    with bapp.db.transaction() as s:
        rows = s.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.event_type == event_type)
            .order_by(OutboxMessage.position)
        )
        return [r.data for r in rows]


def _later(bapp: BookingsApp, booking_id: Any, extra: float = 1) -> datetime:
    hold = bapp.booking(booking_id).hold_expires_at
    assert hold is not None
    return hold + timedelta(seconds=extra)


def test_a_paid_session_holds_the_place_until_payment_then_confirms_with_a_receipt(
    bookings_app: BookingsApp,
) -> None:
    bapp = bookings_app
    sess = _paid_session(bapp, capacity=1)
    token = bapp.token()
    resp = bapp.book(token, sess["id"])
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "pending_payment" and body["funding"] == "unpaid"
    assert body["checkout_url"].startswith(bapp.stripe.api_base + "/pay/cs_")
    hold = datetime.fromisoformat(body["hold_expires_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=29) < hold - datetime.now(UTC) <= timedelta(minutes=30)
    assert bapp.mails() == []  # no invite for a place not yet paid
    # The place counts: the next person waits.
    other = bapp.book(bapp.token(), sess["id"]).get_json()
    assert other["status"] == "waitlisted"
    # Checkout is the stand-in's real session: the SDK reads it back as we made it.
    checkout = bapp.stripe.client().v1.checkout.sessions.retrieve(
        bapp.booking(body["id"]).checkout_session_id
    )
    assert checkout.client_reference_id == body["id"] and checkout.amount_total == PRICE
    assert checkout.metadata["hub_id"] == str(sess["hub_id"])

    [answer] = bapp.pay(body["id"])
    assert answer.status_code == 200 and answer.get_json()["outcome"] == "confirmed"
    booking = bapp.booking(body["id"])
    assert (booking.status, booking.funding, booking.paid_pence) == ("confirmed", "paid", PRICE)
    assert booking.hold_expires_at is None
    [mail] = bapp.mails(to=booking.user_email)
    assert mail["Subject"].startswith("Paid and booked:")
    text = mail.get_body(("plain",)).get_content()
    assert "£45.00" in text and "Receipt" in text
    assert any(p.get_content_type() == "text/calendar" for p in mail.walk())
    [paid] = _events(bapp, events.PAYMENT_SUCCEEDED)
    assert paid["amount_pence"] == PRICE and paid["payment_intent"].startswith("pi_")
    assert paid["charge"] and paid["charge"].startswith("ch_")
    assert [e["funding"] for e in _events(bapp, events.BOOKING_CONFIRMED)] == ["paid"]


def test_a_webhook_delivered_three_times_is_applied_once(bookings_app: BookingsApp) -> None:
    bapp = bookings_app
    sess = _paid_session(bapp)
    booking_id = bapp.book(bapp.token(), sess["id"]).get_json()["id"]
    bapp.stripe.duplicate_next(3)
    bapp.pay(booking_id, deliver=False)
    deliveries = bapp.inbox.take("checkout.session.completed", count=3)
    assert len({d.event["id"] for d in deliveries}) == 1
    outcomes = [r.get_json()["outcome"] for r in bapp.deliver(deliveries)]
    assert outcomes == ["confirmed", "duplicate", "duplicate"]
    assert len(bapp.mails()) == 1
    assert len(_events(bapp, events.PAYMENT_SUCCEEDED)) == 1
    with bapp.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 1


@EMBEDDED_ONLY
def test_a_forged_or_missing_signature_is_a_400_and_changes_nothing(
    bookings_app: BookingsApp,
) -> None:
    bapp = bookings_app
    sess = _paid_session(bapp)
    booking_id = bapp.book(bapp.token(), sess["id"]).get_json()["id"]
    bapp.pay(booking_id, deliver=False)
    [real] = bapp.inbox.take("checkout.session.completed")
    tampered = real.body.replace(b'"paid"', b'"PAID"', 1)
    forged = [
        _received(real.body, None),
        _received(real.body, "t=1,v1=" + "0" * 64),
        _received(tampered, real.signature),
        _received(b"not json", real.signature),
    ]
    for resp in bapp.deliver(forged):
        assert resp.status_code == 400
        assert resp.get_json()["type"].endswith("bad-webhook-signature")
    assert bapp.booking(booking_id).status == "pending_payment"
    with bapp.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(StripeEvent)) == 0
    assert bapp.deliver([real])[0].get_json()["outcome"] == "confirmed"


def _received(body: bytes, signature: str | None) -> Received:
    return Received(body, signature, {}, 0.0)


def _signed(secret: str, event: dict[str, Any]) -> Received:
    """An event signed as Stripe signs (``t=…,v1=HMAC-SHA256(secret, "t.body")``)."""
    body = json.dumps(event).encode()
    stamp = int(time.time())
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return _received(body, f"t={stamp},v1={mac}")


@EMBEDDED_ONLY
def test_unknown_types_are_acknowledged_and_a_resent_event_applies_once(
    bookings_app: BookingsApp,
) -> None:
    bapp = bookings_app
    unknown = _signed(
        bapp.stripe.secret,
        {
            "id": "evt_unknown_1",
            "object": "event",
            "type": "customer.created",
            "data": {"object": {"id": "cus_1", "object": "customer"}},
        },
    )
    [resp] = bapp.deliver([unknown])
    assert resp.status_code == 200 and resp.get_json() == {"received": True, "outcome": "ignored"}
    sess = _paid_session(bapp)
    booking_id = bapp.book(bapp.token(), sess["id"]).get_json()["id"]
    bapp.pay(booking_id, deliver=False)
    [real] = bapp.inbox.take("checkout.session.completed")
    bapp.stripe.resend(real.event["id"])  # as Stripe retries, days later if need be
    [again] = bapp.inbox.take("checkout.session.completed")
    assert again.event["id"] == real.event["id"]
    assert bapp.deliver([again])[0].get_json()["outcome"] == "confirmed"
    assert bapp.deliver([real])[0].get_json()["outcome"] == "duplicate"


def test_an_expiry_of_an_old_checkout_never_cancels_a_paid_booking_in_either_order(
    bookings_app: BookingsApp,
) -> None:
    bapp = bookings_app
    sess = _paid_session(bapp)
    token = bapp.token()
    booking_id = bapp.book(token, sess["id"]).get_json()["id"]
    first = bapp.booking(booking_id).checkout_session_id
    bapp.stripe.client().v1.checkout.sessions.expire(first)  # the customer's tab timed out
    [expired] = bapp.inbox.take("checkout.session.expired")
    with bapp.db.transaction() as s:  # as if the stored session had lapsed meanwhile
        s.get(Booking, uuid.UUID(booking_id)).checkout_url = None  # type: ignore[union-attr]
    again = bapp.client.post(f"/api/bookings/{booking_id}/checkout", headers=bapp.headers(token))
    assert again.status_code == 200
    second = bapp.booking(booking_id).checkout_session_id
    assert second != first and again.get_json()["checkout_url"].endswith(second)
    bapp.pay(booking_id, deliver=False)
    [completed] = bapp.inbox.take("checkout.session.completed")
    # Completed first, then the late expiry of the first session: still confirmed.
    outcomes = [r.get_json()["outcome"] for r in bapp.deliver([completed, expired])]
    assert outcomes == ["confirmed", "ignored"]
    assert bapp.booking(booking_id).status == "confirmed"


@EMBEDDED_ONLY
def test_the_expiry_arriving_before_the_payment_of_a_new_checkout_is_harmless(
    bookings_app: BookingsApp,
) -> None:
    bapp = bookings_app
    sess = _paid_session(bapp)
    token = bapp.token()
    booking_id = bapp.book(token, sess["id"]).get_json()["id"]
    first = bapp.booking(booking_id).checkout_session_id
    bapp.stripe.hold_webhooks()
    try:
        bapp.stripe.client().v1.checkout.sessions.expire(first)
        with bapp.db.transaction() as s:
            s.get(Booking, uuid.UUID(booking_id)).checkout_url = None  # type: ignore[union-attr]
        bapp.client.post(f"/api/bookings/{booking_id}/checkout", headers=bapp.headers(token))
        bapp.stripe.pay(bapp.booking(booking_id).checkout_session_id)
    finally:
        bapp.stripe.release_webhooks("fifo")
    got = bapp.inbox.take("checkout.session.completed")
    kinds = [d.event["type"] for d in got]
    assert kinds == ["checkout.session.expired", "checkout.session.completed"]
    outcomes = [r.get_json()["outcome"] for r in bapp.deliver(got)]
    assert outcomes == ["ignored", "confirmed"]


def test_a_lost_webhook_is_reconciled_by_the_hold_job_not_cancelled(
    bookings_app: BookingsApp,
) -> None:
    bapp = bookings_app
    sess = _paid_session(bapp)
    booking_id = bapp.book(bapp.token(), sess["id"]).get_json()["id"]
    bapp.stripe.drop_next(1)
    bapp.pay(booking_id, deliver=False)
    assert bapp.booking(booking_id).status == "pending_payment"
    assert payments.expire_holds(bapp.db, bapp.settings, now=_later(bapp, booking_id)) == 1
    booking = bapp.booking(booking_id)
    assert (booking.status, booking.funding) == ("confirmed", "paid")
    with bapp.db.transaction() as s:
        [payment] = s.scalars(select(Payment))
        assert payment.charge_id and payment.charge_id.startswith("ch_")
    assert len(_events(bapp, events.PAYMENT_SUCCEEDED)) == 1


def test_an_unpaid_hold_expires_frees_the_place_and_offers_it_to_the_next(
    bookings_app: BookingsApp,
) -> None:
    bapp = bookings_app
    sess = _paid_session(bapp, capacity=1)
    holder = bapp.book(bapp.token(), sess["id"]).get_json()["id"]
    waiter_token = bapp.token()
    waiter = bapp.book(waiter_token, sess["id"]).get_json()["id"]
    third_token = bapp.token()
    third = bapp.book(third_token, sess["id"]).get_json()["id"]
    when = _later(bapp, holder)
    assert payments.expire_holds(bapp.db, bapp.settings, now=when) == 1
    assert bapp.booking(holder).status == "cancelled"
    checkout = bapp.stripe.client().v1.checkout.sessions.retrieve(
        bapp.booking(holder).checkout_session_id
    )
    assert checkout.status == "expired"  # Stripe will take no late payment for it
    offered = bapp.booking(waiter)
    assert offered.status == "offered" and offered.hold_expires_at is not None
    assert timedelta(hours=23) < offered.hold_expires_at - datetime.now(UTC) <= timedelta(hours=24)
    offer_mail = bapp.mails(to=offered.user_email)[-1]
    assert offer_mail["Subject"].startswith("A place is yours if you want it")
    assert f"/my-bookings#booking-{waiter}" in offer_mail.get_body(("plain",)).get_content()
    # An offer not taken in time passes on.
    lapse = offered.hold_expires_at + timedelta(seconds=1)
    assert payments.expire_holds(bapp.db, bapp.settings, now=lapse) == 1
    assert bapp.booking(waiter).status == "cancelled"
    assert bapp.booking(third).status == "offered"
    # Taking it: held for payment with a checkout.
    took = bapp.client.post(
        f"/api/bookings/{third}/accept-offer", headers=bapp.headers(third_token)
    )
    assert took.status_code == 200, took.get_json()
    assert took.get_json()["status"] == "pending_payment" and took.get_json()["checkout_url"]
    bapp.pay(third)
    assert bapp.booking(third).status == "confirmed"
    replica = bapp.replica(sess["id"])
    assert replica is not None and (replica.held_count, replica.waitlist_count) == (1, 0)
    # Someone else cannot take an offer that is not theirs.
    assert (
        bapp.client.post(
            f"/api/bookings/{third}/accept-offer", headers=bapp.headers(waiter_token)
        ).status_code
        == 404
    )


def test_a_payment_after_the_hold_went_to_someone_else_is_refunded_never_overbooked(
    bookings_app: BookingsApp,
) -> None:
    bapp = bookings_app
    sess = _paid_session(bapp, capacity=1)
    late = bapp.book(bapp.token(), sess["id"]).get_json()["id"]
    checkout = bapp.booking(late).checkout_session_id
    # The job releases the hold while Stripe is unreachable and its session has lapsed
    # on our records; the customer pays on the still-open page.
    with bapp.db.transaction() as s:
        b = s.get(Booking, uuid.UUID(late))
        b.checkout_expires_at = datetime.now(UTC) - timedelta(minutes=1)  # type: ignore[union-attr]
    bapp.stripe.fail_next(method="GET", path="/v1/checkout/sessions", should_retry=False)
    payments.expire_holds(bapp.db, bapp.settings, now=_later(bapp, late))
    assert bapp.booking(late).status == "cancelled"
    winner = bapp.book(bapp.token(), sess["id"]).get_json()
    assert winner["status"] == "pending_payment"
    bapp.stripe.pay(checkout)
    [completed] = bapp.inbox.take("checkout.session.completed")
    assert bapp.deliver([completed])[0].get_json()["outcome"] == "refunding"
    assert bapp.booking(late).status == "cancelled"
    replica = bapp.replica(sess["id"])
    assert replica is not None and replica.held_count == 1
    refund_mail = bapp.mails(to=bapp.booking(late).user_email)[-1]
    assert refund_mail["Subject"].startswith("Refund of your payment")
    assert "already gone to someone else" in refund_mail.get_body(("plain",)).get_content()
    assert payments.execute_refunds(bapp.db, bapp.settings) == 1
    booking = bapp.booking(late)
    assert (booking.refund_status, booking.refunded_pence) == ("succeeded", PRICE)
    [refunded] = _events(bapp, events.PAYMENT_REFUNDED)
    assert refunded["amount_pence"] == PRICE and refunded["reason"] == "place_gone"
    assert payments.execute_refunds(bapp.db, bapp.settings) == 0  # nothing sent twice


@EMBEDDED_ONLY
def test_a_late_payment_keeps_the_place_when_it_is_still_free(bookings_app: BookingsApp) -> None:
    bapp = bookings_app
    sess = _paid_session(bapp, capacity=2)
    late = bapp.book(bapp.token(), sess["id"]).get_json()["id"]
    checkout = bapp.booking(late).checkout_session_id
    with bapp.db.transaction() as s:
        b = s.get(Booking, uuid.UUID(late))
        b.checkout_expires_at = datetime.now(UTC) - timedelta(minutes=1)  # type: ignore[union-attr]
    bapp.stripe.fail_next(method="GET", path="/v1/checkout/sessions", should_retry=False)
    payments.expire_holds(bapp.db, bapp.settings, now=_later(bapp, late))
    assert bapp.booking(late).status == "cancelled"
    bapp.stripe.pay(checkout)
    [completed] = bapp.inbox.take("checkout.session.completed")
    assert bapp.deliver([completed])[0].get_json()["outcome"] == "reinstated"
    booking = bapp.booking(late)
    assert (booking.status, booking.funding, booking.refund_status) == ("confirmed", "paid", "none")
    replica = bapp.replica(sess["id"])
    assert replica is not None and replica.held_count == 1


@EMBEDDED_ONLY
def test_when_stripe_is_down_booking_answers_503_and_keeps_the_hold(
    bookings_app: BookingsApp,
) -> None:
    bapp = bookings_app
    sess = _paid_session(bapp, capacity=1)
    token = bapp.token()
    bapp.stripe.fail_next(method="POST", path="/v1/checkout/sessions", should_retry=False)
    resp = bapp.book(token, sess["id"], **{"Idempotency-Key": "pay-1"})
    assert resp.status_code == 503, resp.get_json()
    problem = resp.get_json()
    assert problem["type"].endswith("payments-unavailable")
    booking_id = resp.headers["Location"].rsplit("/", 1)[1]
    assert booking_id in problem["detail"]
    held = bapp.booking(booking_id)
    assert held.status == "pending_payment" and held.checkout_session_id is None
    # Retrying the same request (same key) now gets the checkout.
    again = bapp.book(token, sess["id"], **{"Idempotency-Key": "pay-1"})
    assert again.status_code == 200 and again.get_json()["checkout_url"]
    assert again.get_json()["id"] == booking_id


@EMBEDDED_ONLY
def test_refund_rule_at_the_boundary(bookings_app: BookingsApp) -> None:
    bapp = bookings_app
    days = 7
    outcomes = {}
    for label, margin in (("in_time", 120), ("too_late", -120)):
        starts = datetime.now(UTC) + timedelta(days=days, seconds=margin)
        sess = _paid_session(bapp, starts_at=starts, refund_days_before=days)
        token = bapp.token()
        booking_id = bapp.book(token, sess["id"]).get_json()["id"]
        bapp.pay(booking_id)
        shown = bapp.client.get(f"/api/bookings/{booking_id}", headers=bapp.headers(token))
        cancelled = bapp.client.post(
            f"/api/bookings/{booking_id}/cancel", headers=bapp.headers(token)
        ).get_json()
        outcomes[label] = (
            shown.get_json()["refund_if_cancelled_pence"],
            cancelled["refund_status"],
            cancelled["refunded_pence"],
        )
        mail = bapp.mails(to=bapp.booking(booking_id).user_email)[-1].get_body(("plain",))
        if label == "too_late":
            assert "No refund is due" in mail.get_content()
        else:
            assert "We are refunding £45.00" in mail.get_content()
    assert outcomes == {"in_time": (PRICE, "succeeded", PRICE), "too_late": (0, "none", 0)}
    cancels = _events(bapp, events.BOOKING_CANCELLED)
    assert [c["refund_pence"] for c in cancels] == [PRICE, 0]


def test_hub_leads_refund_in_part_then_the_rest_never_more(bookings_app: BookingsApp) -> None:
    bapp = bookings_app
    sess = _paid_session(bapp)
    token = bapp.token()
    booking_id = bapp.book(token, sess["id"]).get_json()["id"]
    bapp.pay(booking_id)
    lead = bapp.headers(bapp.lead_token())
    url = f"/api/bookings/{booking_id}/refund"
    assert (
        bapp.client.post(url, json={"amount_pence": 1000}, headers=bapp.headers(token)).status_code
        == 403
    )
    other_lead = bapp.headers(bapp.token(roles=("hub_lead",), hub_ids=(uuid.uuid4(),)))
    assert bapp.client.post(url, json={"amount_pence": 1000}, headers=other_lead).status_code == 404
    bapp.stripe.next_refund_status("pending")
    part = bapp.client.post(url, json={"amount_pence": 1000}, headers=lead)
    assert part.status_code == 200, part.get_json()
    assert (part.get_json()["refund_status"], part.get_json()["refunded_pence"]) == ("pending", 0)
    too_much = bapp.client.post(url, json={"amount_pence": PRICE}, headers=lead)
    assert too_much.status_code == 422  # 3,500 left, not 4,500
    with bapp.db.transaction() as s:
        [refund] = s.scalars(select(Refund))
        stripe_id = refund.stripe_refund_id
    made = bapp.stripe.client().v1.refunds.retrieve(stripe_id)
    assert (made.amount, made.metadata["hub_id"]) == (1000, str(sess["hub_id"]))
    bapp.stripe.settle_refund(stripe_id, "succeeded")
    got = bapp.inbox.take("charge.refunded")
    bapp.deliver(got)
    booking = bapp.booking(booking_id)
    assert (booking.refund_status, booking.refunded_pence) == ("succeeded", 1000)
    rest = bapp.client.post(url, headers=lead).get_json()
    assert (rest["refund_status"], rest["refunded_pence"]) == ("succeeded", PRICE)
    assert bapp.client.post(url, headers=lead).status_code == 409
    assert [e["amount_pence"] for e in _events(bapp, events.PAYMENT_REFUNDED)] == [
        1000,
        PRICE - 1000,
    ]


def test_a_session_cancelled_by_the_hub_refunds_every_paid_booking(
    bookings_app: BookingsApp,
) -> None:
    bapp = bookings_app
    sess = _paid_session(bapp, capacity=3)
    paid = []
    for _ in range(2):
        booking_id = bapp.book(bapp.token(), sess["id"]).get_json()["id"]
        bapp.pay(booking_id)
        paid.append(booking_id)
    unpaid = bapp.book(bapp.token(), sess["id"]).get_json()["id"]
    with bapp.db.transaction() as s:
        operations.apply_session_cancelled(
            s, bapp.settings, uuid.UUID(str(sess["id"])), reason="Snow"
        )
    assert payments.execute_refunds(bapp.db, bapp.settings) == 2
    for booking_id in paid:
        booking = bapp.booking(booking_id)
        assert (booking.status, booking.refund_status, booking.refunded_pence) == (
            "cancelled",
            "succeeded",
            PRICE,
        )
    assert bapp.booking(unpaid).refund_status == "none"
    assert sorted(e["reason"] for e in _events(bapp, events.PAYMENT_REFUNDED)) == [
        "session_cancelled",
        "session_cancelled",
    ]


def test_forty_concurrent_buyers_never_exceed_ten_places(
    bookings_app: BookingsApp, live_server: str
) -> None:
    bapp = bookings_app
    sess = _paid_session(bapp, capacity=10, starts_at=future(days=14))
    tokens = [bapp.token() for _ in range(40)]
    barrier = threading.Barrier(40)
    answers: list[dict[str, Any]] = []
    lock = threading.Lock()

    def buy(token: str) -> None:
        barrier.wait()
        resp = requests.post(
            f"{live_server}/api/bookings",
            json={"session_id": str(sess["id"])},
            headers=bapp.headers(token),
            timeout=60,
        )
        with lock:
            answers.append(resp.json())

    threads = [threading.Thread(target=buy, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    statuses = sorted(a["status"] for a in answers)
    assert statuses.count("pending_payment") == 10 and statuses.count("waitlisted") == 30
    held = [a["id"] for a in answers if a["status"] == "pending_payment"]
    # Everyone held pays at once, and the job sweeps at the same time.
    for booking_id in held:
        bapp.stripe.pay(bapp.booking(booking_id).checkout_session_id)
    deliveries = bapp.inbox.take("checkout.session.completed", count=10)
    sweep = threading.Thread(
        target=payments.expire_holds,
        args=(bapp.db, bapp.settings),
        kwargs={"now": _later(bapp, held[0], 3600)},
    )
    sweep.start()
    bapp.deliver(deliveries)
    sweep.join(60)
    with bapp.db.transaction() as s:
        confirmed = s.scalar(
            select(func.count()).where(
                Booking.session_id == uuid.UUID(str(sess["id"])), Booking.status == "confirmed"
            )
        )
        payments_taken = s.scalar(select(func.count()).select_from(Payment))
    assert confirmed == 10 and payments_taken == 10
    with bapp.db.read() as s:
        counts = operations.count_bookings(s, uuid.UUID(str(sess["id"])))
    replica = bapp.replica(sess["id"])
    assert replica is not None and replica.held_count == counts["held"] == 10


def test_reminder_job_still_ignores_unpaid_holds(bookings_app: BookingsApp) -> None:
    bapp = bookings_app
    sess = _paid_session(bapp, starts_at=datetime.now(UTC) + timedelta(hours=20))
    bapp.book(bapp.token(), sess["id"])
    assert jobs.send_reminders(bapp.db, bapp.settings) == 0
