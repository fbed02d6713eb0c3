"""Fifty funding requests at once, each in its own transaction, on both backends: the
event lock and the account row lock let exactly as many through as there are places
(or money), and the balances come out exact."""

from __future__ import annotations

import collections
import uuid
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import pytest

from services.budget import operations as ops
from shared import events
from tests.budget.conftest import FUNDING, BudgetApp, funding_requested

REQUESTS = 50
PRICE = 5_000


def _race(budget: BudgetApp, payloads: list[dict[str, Any]]) -> collections.Counter[str]:
    """Every request at once (a barrier lines the threads up); their outcomes."""
    barrier = Barrier(len(payloads))

    def one(payload: dict[str, Any]) -> str:
        data = events.load(FUNDING, 1, payload)
        barrier.wait()
        with budget.db.transaction() as s:
            row = ops.request_funding(s, data)
            return row.reason or row.status

    with ThreadPoolExecutor(max_workers=len(payloads)) as pool:
        return collections.Counter(pool.map(one, payloads))


@pytest.mark.parametrize("scarce", ["places", "money"])
def test_fifty_requests_for_ten(budget: BudgetApp, hub: uuid.UUID, scarce: str) -> None:
    event = uuid.uuid4()
    if scarce == "places":
        # Plenty of money; 12 funded places of which 2 are already taken: 10 left.
        budget.allocate(hub, 1_000_000)
        for _ in range(2):
            budget.deliver(FUNDING, funding_requested(hub, event, funded_places=12))
        places, refused = 12, "no_funded_places"
    else:
        # Plenty of places; money for exactly 10.
        budget.allocate(hub, 10 * PRICE)
        places, refused = REQUESTS, "insufficient_funds"
    payloads = [
        funding_requested(hub, event, funded_places=places, amount_pence=PRICE)
        for _ in range(REQUESTS)
    ]
    outcomes = _race(budget, payloads)
    assert outcomes == {"committed": 10, refused: REQUESTS - 10}
    line = budget.line(hub)
    held = (10 + (2 if scarce == "places" else 0)) * PRICE
    assert line["committed"] == held
    assert line["remaining"] == line["allocated"] - held
    pending = [t for t in budget.transfers(hub) if t.kind == "pending"]
    assert len(pending) == held // PRICE
    answers = budget.published("budget.funding.committed", hub_id=hub)
    assert len(answers) == held // PRICE
    assert len(budget.published("budget.funding.declined", hub_id=hub)) == REQUESTS - 10
    budget.check(hub)
