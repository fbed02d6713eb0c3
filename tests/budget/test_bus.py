"""Budget's consumers through the real consumer path (inbox + handler in one transaction),
on both backends: each consumer, duplicates and redeliveries (one effect), messages out
of order (they converge), alerts raised once per threshold; and once end to end over
the real bus (relay, broker, consumer)."""

from __future__ import annotations

import contextlib
import threading
import uuid

from eyhub.components import subscriptions
from services.budget.handlers import handlers
from services.budget.operations import derived_id
from shared.db import Database
from shared.events import budget as budget_events
from shared.messaging import publish
from shared.messaging.inbox import Consumer
from shared.messaging.outbox import Relay
from shared.messaging.testing import handled_count, wait_until
from shared.messaging.topology import Topology
from tests.budget.conftest import (
    ATTENDANCE,
    CANCELLED,
    FUNDING,
    MEETING,
    PAID,
    REFUNDED,
    YEAR,
    BudgetApp,
    attendance,
    booking_cancelled,
    funding_requested,
    meeting,
    payment,
    refund,
)

COMMITTED = budget_events.FUNDING_COMMITTED
DECLINED = budget_events.FUNDING_DECLINED
ALERT = budget_events.ALERT_RAISED


def test_funding_commits_once_and_answers(budget: BudgetApp, hub: uuid.UUID) -> None:
    budget.allocate(hub, 20_000)
    event, b1, b2 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    message = uuid.uuid4()
    request = funding_requested(hub, event, b1)
    assert budget.deliver(FUNDING, request, message_id=message) == "applied"
    assert budget.deliver(FUNDING, request, message_id=message) == "duplicate"  # redelivery
    (answer,) = budget.published(COMMITTED, booking_id=b1)
    assert answer == {
        "booking_id": str(b1),
        "hub_id": str(hub),
        "transfer_id": str(derived_id("funding", b1)),
        "amount_pence": 5_000,
        "line": "training_delivery",
        "financial_year": YEAR,
    }
    # Asked again in a new message: the same answer again, no second commitment.
    assert budget.deliver(FUNDING, request) == "applied"
    assert len(budget.published(COMMITTED, booking_id=b1)) == 2
    assert budget.line(hub)["committed"] == 5_000
    funding = budget.funding(b1)
    assert funding is not None and funding.status == "committed"

    # A backlog applied in one transaction: a twin inside the batch is dropped, and the
    # cancellation behind the request releases what it held.
    twin = budget.envelope(FUNDING, funding_requested(hub, event, b2))
    outcomes = budget.deliver_batch(
        [twin, twin, budget.envelope(CANCELLED, booking_cancelled(hub, event, b2))]
    )
    assert outcomes == ["applied", "duplicate", "applied"]
    assert budget.funding(b2).status == "voided"  # type: ignore[union-attr]
    assert budget.line(hub)["committed"] == 5_000
    kinds = [(t.kind, t.booking_id) for t in budget.transfers(hub)]
    assert kinds == [("allocation", None), ("pending", b1), ("pending", b2), ("void", b2)]
    budget.check(hub)


def test_each_decline_reason(budget: BudgetApp, hub: uuid.UUID) -> None:
    event = uuid.uuid4()

    def ask(**more: object) -> dict[str, object]:
        booking = uuid.uuid4()
        budget.deliver(FUNDING, funding_requested(hub, event, booking, **more))
        (answer,) = budget.published(COMMITTED, booking_id=booking) or budget.published(
            DECLINED, booking_id=booking
        )
        return answer

    assert ask()["reason"] == "no_allocation"
    assert ask(amount_pence=0)["amount_pence"] == 0  # costs nothing: only a place is taken
    budget.allocate(hub, 6_000)
    assert ask(eligible_setting_types=["nursery", "preschool"])["reason"] == "not_eligible"
    assert "transfer_id" in ask(eligible_setting_types=["childminder"])  # committed 5,000
    short = ask()
    assert short["reason"] == "insufficient_funds" and short["detail"]
    assert ask(amount_pence=1_000)["transfer_id"]  # exactly the 1,000 left
    budget.allocate(hub, 50_000)
    full = ask(funded_places=3)  # three taken: the free one, 5,000 and 1,000
    assert full["reason"] == "no_funded_places"
    assert full["detail"] == "All the funded places for this event have been taken."
    # An overdraft on the line lets a commitment through without the money.
    budget.allocate(hub, 1_000, line="backfill")
    assert ask(line="backfill", amount_pence=7_000, funded_places=10)["reason"] == (
        "insufficient_funds"
    )
    budget.put_settings(hub, overdraft_lines=["backfill"])
    assert "transfer_id" in ask(line="backfill", amount_pence=7_000, funded_places=10)
    assert budget.line(hub, "backfill")["remaining"] == -6_000
    assert [t.amount_pence for t in budget.transfers(hub) if t.kind == "pending"] == [
        0,
        5_000,
        1_000,
        7_000,
    ]
    budget.check(hub)


def test_cancellations_release_and_a_cancellation_first_is_a_tombstone(
    budget: BudgetApp, hub: uuid.UUID
) -> None:
    budget.allocate(hub, 100_000)
    event, early, first, second, third = (uuid.uuid4() for _ in range(5))
    # The cancellation overtook the request: it declines, and never commits.
    assert budget.deliver(CANCELLED, booking_cancelled(hub, event, early)) == "applied"
    budget.deliver(FUNDING, funding_requested(hub, event, early, funded_places=1))
    (declined,) = budget.published(DECLINED, booking_id=early)
    assert declined["reason"] == "booking_cancelled"
    assert budget.transfers(hub)[-1].kind == "allocation"
    # One funded place: taken, refused to the next, freed by a cancellation, taken again.
    budget.deliver(FUNDING, funding_requested(hub, event, first, funded_places=1))
    budget.deliver(FUNDING, funding_requested(hub, event, second, funded_places=1))
    assert budget.published(DECLINED, booking_id=second)[0]["reason"] == "no_funded_places"
    budget.deliver(CANCELLED, booking_cancelled(hub, event, first))
    budget.deliver(CANCELLED, booking_cancelled(hub, event, first))  # again: nothing more
    budget.deliver(FUNDING, funding_requested(hub, event, third, funded_places=1))
    assert budget.published(COMMITTED, booking_id=third)
    assert [t.kind for t in budget.transfers(hub)] == ["allocation", "pending", "void", "pending"]
    assert budget.line(hub)["committed"] == 5_000
    budget.check(hub)


def test_attendance_posts_or_voids_and_corrections_converge(
    budget: BudgetApp, hub: uuid.UUID
) -> None:
    budget.allocate(hub, 100_000)
    event, booking = uuid.uuid4(), uuid.uuid4()
    budget.deliver(FUNDING, funding_requested(hub, event, booking))
    budget.deliver(ATTENDANCE, attendance(hub, event, booking, "attended", minute=1))
    assert (budget.line(hub)["spent"], budget.line(hub)["committed"]) == (5_000, 0)
    budget.deliver(ATTENDANCE, attendance(hub, event, booking, "no_show", minute=2))
    assert (budget.line(hub)["spent"], budget.line(hub)["committed"]) == (0, 0)
    assert budget.funding(booking).status == "voided"  # type: ignore[union-attr]
    budget.deliver(ATTENDANCE, attendance(hub, event, booking, "attended", minute=3))
    # A retried older recording arrives late: ignored.
    budget.deliver(ATTENDANCE, attendance(hub, event, booking, "no_show", minute=2))
    assert (budget.line(hub)["spent"], budget.line(hub)["committed"]) == (5_000, 0)
    kinds = [t.kind for t in budget.transfers(hub)]
    assert kinds == ["allocation", "pending", "post", "reversal", "void", "reversal", "post"]
    row = budget.funding(booking)
    assert row is not None and (row.status, row.posted_pence) == ("posted", 5_000)

    # Attendance before the request (hub-funded): remembered, applied on commitment.
    late = uuid.uuid4()
    budget.deliver(ATTENDANCE, attendance(hub, event, late, "attended"))
    budget.deliver(FUNDING, funding_requested(hub, event, late))
    assert budget.published(COMMITTED, booking_id=late)
    assert budget.funding(late).status == "posted"  # type: ignore[union-attr]
    # A no-show under the "post" policy is charged.
    budget.put_settings(hub, no_show_policy="post")
    charged = uuid.uuid4()
    budget.deliver(FUNDING, funding_requested(hub, event, charged, amount_pence=3_000))
    budget.deliver(ATTENDANCE, attendance(hub, event, charged, "no_show"))
    assert budget.funding(charged).status == "posted"  # type: ignore[union-attr]
    # Attendance of a place nobody funds is none of the budget's business.
    free = uuid.uuid4()
    data = attendance(hub, event, free, "attended")
    data["funding"] = "free"
    assert budget.deliver(ATTENDANCE, data) == "applied"
    assert budget.funding(free) is None

    line = budget.line(hub)
    assert (line["spent"], line["committed"]) == (13_000, 0)
    # Spent on funded places 13,000 over two attended places (one no-show charged).
    assert budget.summary(hub)["cost_per_attended_place"] == 6_500
    budget.check(hub)


def test_card_income_and_refunds_keep_stripe_ids(budget: BudgetApp, hub: uuid.UUID) -> None:
    paid = payment(hub, "pi_123", 2_500)
    assert budget.deliver(PAID, paid) == "applied"
    assert budget.deliver(PAID, paid) == "applied"  # a new message, the same payment
    refunded = refund(hub, "pi_123", "re_9", 1_000)
    budget.deliver(REFUNDED, refunded)
    budget.deliver(REFUNDED, refunded)
    # A refund can overtake its payment (a retry): booked all the same, by its own date.
    budget.deliver(REFUNDED, refund(hub, "pi_456", "re_10", 700))
    budget.deliver(PAID, payment(hub, "pi_456", 700))
    rows = budget.transfers(hub)
    assert [(t.kind, t.line, t.amount_pence) for t in rows] == [
        ("income", "training_delivery", 2_500),
        ("refund", "training_delivery", 1_000),
        ("refund", "training_delivery", 700),
        ("income", "training_delivery", 700),
    ]
    income, first_refund = rows[0], rows[1]
    assert (income.payment_intent, income.charge, income.checkout_session) == (
        "pi_123",
        "ch_pi_123",
        "cs_pi_123",
    )
    assert (first_refund.refund_id, first_refund.payment_intent) == ("re_9", "pi_123")
    assert income.id == derived_id("payment", "pi_123")
    summary = budget.summary(hub)
    assert (summary["totals"]["income"], summary["totals"]["refunds"]) == (3_200, 1_700)
    months = {m["month"]: m for m in summary["by_month"]}
    assert months["2026-07"]["income"] == 3_200 and months["2026-08"]["refunds"] == 1_700
    csv_rows = budget.csv_rows(hub)
    assert csv_rows[1]["refund_id"] == "re_9" and csv_rows[0]["charge"] == "ch_pi_123"
    budget.check(hub)


def test_logged_meetings_cost_mentor_time(budget: BudgetApp, hub: uuid.UUID) -> None:
    assert budget.deliver(MEETING, meeting(hub, 60), queue="mentoring") == "applied"
    assert budget.transfers(hub) == []  # no rate set: nothing to charge
    budget.put_settings(hub, mentor_hourly_rate_pence=1_000)
    budget.allocate(hub, 500, line="mentoring")
    one = meeting(hub, 7)  # 7/60 of £10 = 116.67p
    budget.deliver(MEETING, one, queue="mentoring")
    budget.deliver(MEETING, one, queue="mentoring")  # the same meeting again
    budget.deliver(MEETING, meeting(hub, 30), queue="mentoring")  # 500p: over the 383p left
    rows = budget.transfers(hub)
    assert [(t.kind, t.line, t.amount_pence) for t in rows[1:]] == [
        ("spend", "mentoring", 117),
        ("spend", "mentoring", 500),
    ]
    assert (rows[1].forced, rows[2].forced) == (False, True)  # the time was given: a fact
    assert rows[1].match_id == uuid.UUID(one["match_id"]) and rows[1].origin == "mentoring"
    assert budget.line(hub, "mentoring")["remaining"] == -117
    budget.check(hub)


def test_alerts_are_raised_once_per_threshold(budget: BudgetApp, hub: uuid.UUID) -> None:
    budget.allocate(hub, 10_000)
    first = budget.spend(hub, 7_000).get_json()  # 70%
    assert budget.published(ALERT, hub_id=hub) == []
    event = uuid.uuid4()
    budget.deliver(FUNDING, funding_requested(hub, event, amount_pence=1_000))  # 80%
    (eighty,) = budget.published(ALERT, hub_id=hub)
    assert {k: v for k, v in eighty.items() if k != "raised_at"} == {
        "hub_id": str(hub),
        "financial_year": YEAR,
        "line": "training_delivery",
        "threshold_percent": 80,
        "allocated_pence": 10_000,
        "used_pence": 8_000,
    }
    assert eighty["raised_at"].endswith("Z") or "+00:00" in eighty["raised_at"]
    budget.spend(hub, 500)  # 85%: nothing new
    budget.spend(hub, 1_500)  # 100%
    assert [a["threshold_percent"] for a in budget.published(ALERT, hub_id=hub)] == [80, 100]
    # Down below 80% and up again: each threshold was raised once, and stays raised.
    url = f"/api/budget/hubs/{hub}/transfers/{first['id']}/reverse"
    assert budget.client.post(url, json={"note": "x"}, headers=budget.lead(hub)).status_code == 201
    budget.spend(hub, 7_000)
    assert len(budget.published(ALERT, hub_id=hub)) == 2
    budget.check(hub)


def test_over_the_real_bus(budget: BudgetApp, hub: uuid.UUID) -> None:
    """Bookings' outbox → relay → broker → budget's consumer → budget's outbox: a request
    published twice (a producer retry) and then cancelled holds nothing, and is answered
    as often as it was asked."""
    settings = budget.settings
    topology = Topology(settings, subscriptions())
    bookings_db = Database(settings.database_url("bookings"), name="bookings")
    relay = Relay("bookings", settings, bookings_db, topology)
    consumer = Consumer("budget", settings, budget.db, topology=topology, registry=handlers)
    stop = threading.Event()

    def relay_loop() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                relay.publish_pending()
            stop.wait(0.05)

    threads = [
        threading.Thread(target=relay_loop, daemon=True),
        threading.Thread(target=consumer.run, args=(stop,), daemon=True),
    ]
    for t in threads:
        t.start()
    try:
        budget.allocate(hub, 10_000)
        event, booking = uuid.uuid4(), uuid.uuid4()
        request = funding_requested(hub, event, booking)
        with bookings_db.transaction() as s:
            publish(s, FUNDING, request)
            publish(s, FUNDING, request)
            publish(s, CANCELLED, booking_cancelled(hub, event, booking))

        def settled() -> bool:
            row = budget.funding(booking)
            return row is not None and row.status == "voided"

        wait_until(settled, timeout=30, what="the funding to be committed, then released")
        wait_until(lambda: handled_count(budget.db, CANCELLED) >= 1, timeout=30)
        assert len(budget.published(COMMITTED, booking_id=booking)) == 2
        assert [t.kind for t in budget.transfers(hub)] == ["allocation", "pending", "void"]
        assert budget.line(hub)["committed"] == 0
        budget.check(hub)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        relay.close()
        bookings_db.dispose()
