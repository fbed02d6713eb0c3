"""The demo's budgets: every demo hub funded for the current year, some spend and a mentor
rate, and a second run changes nothing."""

from __future__ import annotations

import uuid

from services.budget import demo, years
from services.catalogue.demo import HUBS
from shared.db import utcnow
from tests.budget.conftest import BudgetApp


def test_demo_funds_every_hub_once(budget: BudgetApp) -> None:
    # As many hubs as the demo catalogue has (services/catalogue/demo.py HUBS).
    hubs = [{"id": str(uuid.uuid4()), "name": h["name"]} for h in HUBS]
    first = demo.seed(budget.settings, hubs)
    assert first["budget allocations"] >= len(hubs) * len(demo.GRANT_LINES)
    transfers = {h["id"]: [t.id for t in budget.transfers(uuid.UUID(h["id"]))] for h in hubs}
    assert demo.seed(budget.settings, hubs) == first
    assert {
        h["id"]: [t.id for t in budget.transfers(uuid.UUID(h["id"]))] for h in hubs
    } == transfers

    year = years.financial_year_at(utcnow())
    for i, h in enumerate(hubs):
        hub = uuid.UUID(h["id"])
        summary = budget.summary(hub, year)
        totals = summary["totals"]
        assert totals["allocated"] >= 9_000_000, (h, totals)  # a grant of £90,000 or more
        assert 0 <= totals["spent"] < totals["allocated"]
        assert all(line["allocated"] > 0 for line in summary["lines"]), summary["lines"]
        rate = budget.client.get(f"/api/budget/hubs/{hub}/settings", headers=budget.lead(hub))
        assert rate.get_json()["mentor_hourly_rate_pence"] == demo.RATES[i % len(demo.RATES)]
        budget.check(hub)
    # A lead's own settings survive a rerun.
    hub = uuid.UUID(hubs[0]["id"])
    budget.put_settings(hub, mentor_hourly_rate_pence=5_000)
    demo.seed(budget.settings, hubs)
    assert (
        budget.client.get(f"/api/budget/hubs/{hub}/settings", headers=budget.lead(hub)).get_json()[
            "mentor_hourly_rate_pence"
        ]
        == 5_000
    )


def test_demo_spend_is_dated_in_the_year_and_never_in_the_future() -> None:
    hub = uuid.uuid4()
    start = years.bounds("2026-27")[0]
    allocations, early = demo.plan(hub, 0, start)
    assert early == [] and {a["financial_year"] for a in allocations} == {"2026-27"}
    _, late = demo.plan(hub, 0, years.bounds("2026-27")[1])
    assert len(late) == len(demo.SPENDS)
    assert all(start <= x["spent_on"] <= years.bounds("2026-27")[1] for x in late)
    # The same hub and year always give the same ids; another year, others.
    assert [a["id"] for a in demo.plan(hub, 0, start)[0]] == [a["id"] for a in allocations]
    next_year = demo.plan(hub, 0, years.bounds("2027-28")[0])[0]
    assert not {a["id"] for a in next_year} & {a["id"] for a in allocations}
