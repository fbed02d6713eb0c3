"""Reconciliation against a real Stripe stand-in process (shared/stripe_local), on both
backends: payments made through the SDK as bookings makes them, booked through the bus
as budget books them, then compared; notes on items; the CSV; Stripe down; who may.

One stand-in for the module; each test works in hubs of its own, so every other test's
payments (and the other backend's) are in Stripe too, as other hubs' money would be.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import stripe
from sqlalchemy import func, select

from services.budget import years
from services.budget.models import Resolution
from shared.db import utcnow
from shared.stripe_local.balance import card_fee
from tests.budget.conftest import PAID, REFUNDED, BudgetApp, budget_app, iso, payment
from tests.support.stripe_local import StripeLocal, free_port
from tests.support.tokens import bearer, make_token


@pytest.fixture(scope="module")
def stripe_local() -> Iterator[StripeLocal]:
    with StripeLocal(webhook_url=None) as sl:
        yield sl


#: Matching Stripe to the ledger is ours, not the database's: the embedded backend only.
@pytest.fixture(scope="module", params=["embedded"])
def budget(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    stripe_local: StripeLocal,
) -> Iterator[BudgetApp]:
    with budget_app(request, tmp_path_factory, EYHUB_STRIPE_API_BASE=stripe_local.api_base) as b:
        yield b


@dataclasses.dataclass
class Card:
    """One card payment made at the stand-in."""

    hub: uuid.UUID
    booking: str
    payment_intent: str
    charge: str
    session: str


def pay(sl: StripeLocal, client: stripe.StripeClient, hub: uuid.UUID, amount: int) -> Card:
    """A Checkout Session as bookings creates it (the hub in the metadata of the session
    and of its payment), paid with the test card."""
    booking = str(uuid.uuid4())
    metadata = {
        "booking_id": booking,
        "session_id": str(uuid.uuid4()),
        "event_id": str(uuid.uuid4()),
        "hub_id": str(hub),
    }
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": "gbp",
                        "unit_amount": amount,
                        "product_data": {"name": "Early maths through play"},
                    },
                    "quantity": 1,
                }
            ],
            "client_reference_id": booking,
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "success_url": "http://127.0.0.1/ok",
            "cancel_url": "http://127.0.0.1/cancel",
        }
    )
    paid = sl.pay(session.id)
    intent = client.v1.payment_intents.retrieve(paid["payment_intent"])
    return Card(hub, booking, intent.id, str(intent.latest_charge), session.id)


def book_income(budget: BudgetApp, card: Card, amount: int) -> None:
    """What budget's consumer does with bookings.payment.succeeded."""
    data = payment(
        card.hub,
        card.payment_intent,
        amount,
        charge=card.charge,
        checkout_session=card.session,
        booking_id=card.booking,
        paid_at=iso(utcnow()),
    )
    assert budget.deliver(PAID, data) == "applied"


def book_refund(budget: BudgetApp, card: Card, refund_id: str, amount: int) -> None:
    data = payment(
        card.hub, card.payment_intent, amount, charge=card.charge, booking_id=card.booking
    )
    del data["paid_at"]
    data.update(
        checkout_session=card.session,
        refund_id=refund_id,
        refunded_pence=amount,
        reason="requested_by_customer",
        refunded_at=iso(utcnow()),
    )
    assert budget.deliver(REFUNDED, data) == "applied"


def reconciliation(budget: BudgetApp, hub: uuid.UUID, query: str = "") -> dict[str, Any]:
    resp = budget.client.get(
        f"/api/budget/hubs/{hub}/reconciliation{query}", headers=budget.lead(hub)
    )
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def resolve(budget: BudgetApp, hub: uuid.UUID, item: str, note: str, by: str | None = None) -> Any:
    token = make_token(
        budget.settings,
        user_id=by or str(uuid.uuid4()),
        roles=("hub_lead",),
        hub_ids=[str(hub)],
    )
    return budget.client.post(
        f"/api/budget/hubs/{hub}/reconciliation/items/{item}/resolve",
        json={"note": note},
        headers=bearer(token),
    )


def test_the_ledger_against_stripe(budget: BudgetApp, stripe_local: StripeLocal) -> None:
    sl, client = stripe_local, stripe_local.client()
    hub, other = uuid.uuid4(), uuid.uuid4()
    matched = pay(sl, client, hub, 2_500)
    book_income(budget, matched, 2_500)
    refunded = pay(sl, client, hub, 4_000)
    book_income(budget, refunded, 4_000)
    refund = client.v1.refunds.create(
        params={"payment_intent": refunded.payment_intent, "amount": 1_500}
    )
    book_refund(budget, refunded, refund.id, 1_500)
    # A refund Stripe made that the ledger never heard of: the hub's by its charge.
    unbooked = client.v1.refunds.create(
        params={"payment_intent": matched.payment_intent, "amount": 600}
    )
    tampered = pay(sl, client, hub, 3_000)
    book_income(budget, tampered, 3_000)
    sl.tamper(tampered.charge, 2_900)
    reversed_ = pay(sl, client, hub, 2_000)
    book_income(budget, reversed_, 2_000)
    income = next(t for t in budget.transfers(hub) if t.payment_intent == reversed_.payment_intent)
    undo = budget.client.post(
        f"/api/budget/hubs/{hub}/transfers/{income.id}/reverse",
        json={"note": "Booked twice by mistake"},
        headers=budget.lead(hub),
    )
    assert undo.status_code == 201, undo.get_json()
    ghost = f"pi_ledgeronly{uuid.uuid4().hex[:12]}"
    book_income(budget, Card(hub, str(uuid.uuid4()), ghost, f"ch_{ghost[3:]}", "cs_x"), 1_200)
    unrecorded = pay(sl, client, hub, 1_800)
    # Another hub's payment and refund, in Stripe and in the ledger: never this hub's.
    theirs = pay(sl, client, other, 5_000)
    book_income(budget, theirs, 5_000)
    their_refund = client.v1.refunds.create(params={"payment_intent": theirs.payment_intent})
    book_refund(budget, theirs, their_refund.id, 5_000)
    payout = sl.payout()

    report = reconciliation(budget, hub)
    today = years.london_date(utcnow())
    assert report["from"] == years.bounds(years.financial_year_of(today))[0].isoformat()
    assert report["to"] == today.isoformat()
    items = {i["id"]: i for i in report["items"]}
    assert {k: i["status"] for k, i in items.items()} == {
        matched.payment_intent: "matched",
        refunded.payment_intent: "matched",
        refund.id: "matched",
        unbooked.id: "stripe_only",
        tampered.payment_intent: "amount_mismatch",
        reversed_.payment_intent: "amount_mismatch",
        ghost: "ledger_only",
        unrecorded.payment_intent: "stripe_only",
    }
    first = items[matched.payment_intent]
    assert first == {
        "id": matched.payment_intent,
        "status": "matched",
        "kind": "charge",
        "payment_intent": matched.payment_intent,
        "charge": matched.charge,
        "refund_id": None,
        "booking_id": matched.booking,
        "stripe_amount_pence": 2_500,
        "ledger_amount_pence": 2_500,
        "fee_pence": card_fee(2_500),
        "net_pence": 2_500 - card_fee(2_500),
        "created": first["created"],
        "booked_on": today.isoformat(),
        "resolution": None,
    }
    back = items[refund.id]
    assert (back["kind"], back["charge"], back["payment_intent"]) == (
        "refund",
        refunded.charge,
        refunded.payment_intent,
    )
    assert (back["stripe_amount_pence"], back["ledger_amount_pence"], back["net_pence"]) == (
        1_500,
        1_500,
        -1_500,
    )
    assert items[unbooked.id]["ledger_amount_pence"] is None
    wrong = items[tampered.payment_intent]
    assert (wrong["stripe_amount_pence"], wrong["ledger_amount_pence"]) == (2_900, 3_000)
    assert wrong["fee_pence"] == card_fee(2_900)
    assert items[reversed_.payment_intent]["ledger_amount_pence"] == 0
    assert items[ghost]["stripe_amount_pence"] is None and items[ghost]["fee_pence"] is None
    assert items[unrecorded.payment_intent]["ledger_amount_pence"] is None
    charges = 2_500 + 4_000 + 2_900 + 2_000 + 1_800
    fees = sum(card_fee(a) for a in (2_500, 4_000, 2_900, 2_000, 1_800))
    assert report["totals"] == {
        "stripe_gross": charges - 1_500 - 600,
        "stripe_fees": fees,
        "stripe_net": charges - 1_500 - 600 - fees,
        "ledger_income": 2_500 + 4_000 + 3_000 + 0 + 1_200,
        "ledger_refunds": 1_500,
        "matched": 3,
        "mismatched": 2,
        "ledger_only": 1,
        "stripe_only": 2,
        "unresolved": 5,
    }
    assert payout["id"] in {p["id"] for p in report["payouts"]}
    listed = next(p for p in report["payouts"] if p["id"] == payout["id"])
    assert (listed["amount_pence"], listed["status"]) == (payout["amount"], "paid")
    # The other hub sees its own two, matched, and none of these.
    assert {i["id"]: i["status"] for i in reconciliation(budget, other)["items"]} == {
        theirs.payment_intent: "matched",
        their_refund.id: "matched",
    }
    # Explicit days: today alone is the same; yesterday has none of it (Stripe is read
    # a few days either side, but only to pair items, never to list them).
    assert reconciliation(budget, hub, f"?from={today}&to={today}")["items"] == report["items"]
    yesterday = today - timedelta(days=1)
    assert reconciliation(budget, hub, f"?from={yesterday}&to={yesterday}")["items"] == []

    # Notes: first 201, again 200 replacing it; the GET and the CSV show the latest.
    lead = budget.lead(hub)
    first_note = resolve(budget, hub, tampered.payment_intent, "Asked Stripe support")
    assert first_note.status_code == 201, first_note.get_json()
    body = first_note.get_json()
    assert body["id"] == tampered.payment_intent and body["kind"] == "charge"
    assert body["resolution"]["note"] == "Asked Stripe support"
    again = resolve(budget, hub, tampered.payment_intent, "=Stripe's fee adjustment, fine")
    assert (
        again.status_code == 200
        and again.get_json()["resolution"]["at"] >= body["resolution"]["at"]
    )
    helen = str(uuid.uuid4())
    stripe_side = resolve(budget, hub, unbooked.id, "Refunded by phone; bookings missed it", helen)
    assert stripe_side.status_code == 201  # known from Stripe alone (not in the ledger)
    report = reconciliation(budget, hub)
    items = {i["id"]: i for i in report["items"]}
    assert items[tampered.payment_intent]["resolution"]["note"] == "=Stripe's fee adjustment, fine"
    assert items[unbooked.id]["resolution"]["by"] == helen
    assert report["totals"]["unresolved"] == 3
    for unknown in (theirs.payment_intent, their_refund.id, "pi_doesnotexist", "not-an-item"):
        assert resolve(budget, hub, unknown, "Not ours").status_code == 404, unknown
    with budget.db.read() as s:
        assert (
            s.scalar(select(func.count()).select_from(Resolution).where(Resolution.hub_id == hub))
            == 2
        )

    resp = budget.client.get(f"/api/budget/hubs/{hub}/reconciliation?format=csv", headers=lead)
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.data.startswith(b"\xef\xbb\xbf") and b"\r\n" in resp.data
    rows = list(csv.DictReader(io.StringIO(resp.data.decode("utf-8-sig"), newline="")))
    assert [(r["id"], r["status"]) for r in rows] == [
        (i["id"], i["status"]) for i in report["items"]
    ]
    row = next(r for r in rows if r["id"] == tampered.payment_intent)
    assert (row["stripe_amount_pence"], row["ledger_amount_pence"]) == ("2900", "3000")
    assert row["resolution_note"] == "'=Stripe's fee adjustment, fine"  # no formula
    assert next(r for r in rows if r["id"] == ghost)["fee_pence"] == ""


def test_who_may_and_what_range(budget: BudgetApp) -> None:
    hub = uuid.uuid4()
    url = f"/api/budget/hubs/{hub}/reconciliation"
    item = f"{url}/items/pi_123/resolve"
    assert budget.client.get(url).status_code == 401
    assert budget.client.get(url, headers=budget.headers("practitioner")).status_code == 403
    assert budget.client.get(url, headers=budget.lead(uuid.uuid4())).status_code == 403
    assert budget.client.post(item, json={"note": "x"}).status_code == 401
    assert (
        budget.client.post(item, json={"note": "x"}, headers=budget.lead(uuid.uuid4())).status_code
        == 403
    )
    admin = budget.client.get(url, headers=budget.admin())
    assert admin.status_code == 200 and admin.get_json()["items"] == []
    for query, field in (
        ("?from=2026-05-02&to=2026-05-01", "from"),
        ("?from=2025-01-01&to=2026-02-05", "to"),  # 401 days
        ("?from=2026-02-30", "from"),
        ("?format=xlsx", "format"),
    ):
        resp = budget.client.get(url + query, headers=budget.lead(hub))
        assert resp.status_code == 422, query
        assert f"query.{field}" in resp.get_json()["errors"], (query, resp.get_json())
    assert (
        budget.client.get(
            url + "?from=2025-01-01&to=2026-02-04", headers=budget.lead(hub)
        ).status_code
        == 200
    )
    empty = budget.client.post(item, json={"note": ""}, headers=budget.lead(hub))
    assert empty.status_code == 422


def test_stripe_unreachable_is_a_503_and_nothing_is_stored(
    budget: BudgetApp, stripe_local: StripeLocal
) -> None:
    hub = uuid.uuid4()
    card = pay(stripe_local, stripe_local.client(), hub, 2_000)
    stripe_local.fail_next("GET", "/v1/balance_transactions", 500, should_retry=False)
    failed = budget.client.get(f"/api/budget/hubs/{hub}/reconciliation", headers=budget.lead(hub))
    assert failed.status_code == 503
    assert failed.get_json()["type"] == "urn:eyhub:problem:stripe-unavailable"
    assert failed.headers["Retry-After"]
    rt = budget.app.extensions["eyhub"]
    settings = rt.settings
    rt.settings = dataclasses.replace(settings, stripe_api_base=f"http://127.0.0.1:{free_port()}")
    try:
        down = resolve(budget, hub, card.payment_intent, "Known only to Stripe")
        assert down.status_code == 503
    finally:
        rt.settings = settings
    with budget.db.read() as s:
        assert (
            s.scalar(select(func.count()).select_from(Resolution).where(Resolution.hub_id == hub))
            == 0
        )
    assert reconciliation(budget, hub)["totals"]["stripe_only"] == 1  # back up, all there
