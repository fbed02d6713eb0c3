"""Demo budgets (``eyhub up --demo``): each demo hub's current financial year is funded,
some money is already spent, and a mentor hourly rate is set, so a hub lead's summary,
transfers and alerts have something to show from the first login.

Idempotent: every transfer id is derived from the hub and the line (or the spend), and
each carries the same facts every time, so a rerun replays them and changes nothing.
A spend dated after today is left for a later run (the ledger charges the day of a
spend, and a demo should not spend in the future). Settings are written only for a hub
that has none, so a lead's own changes survive a rerun. Funded places and card payments
come from bookings (with Stripe) over the bus, not from here. Writes go through
``operations`` on the budget database, in process; expects it migrated.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select

from services.budget import operations as ops
from services.budget import years
from services.budget.models import ALLOCATION, SPEND, HubSettings, Transfer
from shared.config import Settings
from shared.db import Database, utcnow

SEEDER = "demo-seed"
GRANT = "DfE Stronger Practice Hub grant"

#: A year's grant per line (pence), before each hub's scale: about £110,000.
GRANT_LINES = {
    "training_delivery": 4_200_000,
    "backfill": 2_400_000,
    "mentoring": 1_800_000,
    "venue": 800_000,
    "resources": 1_200_000,
    "other": 600_000,
}
#: Each demo hub's grant as a share of the above (percent), by the hub's place in the list.
SCALES = (100, 85, 120, 90)
#: A local authority's top-up for resources, for every other hub.
TOP_UP = ("resources", 500_000, "Local authority early years contribution")
#: Direct spend: line, pence, what, days after 1 April, invoice reference.
SPENDS = (
    ("venue", 125_000, "Venue hire: hub training room, summer term", 20, "INV-VH-0412"),
    (
        "resources",
        86_040,
        "Story sacks and early maths resources for the lending library",
        45,
        None,
    ),
    ("other", 31_250, "Printing: effective practice guides for network meetings", 70, "PO-2231"),
    ("venue", 98_000, "Venue hire: hub training room, autumn term", 150, "INV-VH-0587"),
    (
        "backfill",
        36_000,
        "Backfill cover: 6 funded places at Early maths through play (attended)",
        120,
        "BF-AUT-01",
    ),
    ("resources", 42_599, "Makaton and EAL picture cards", 190, None),
)
#: The mentor hourly rate per hub (pence): £35 to £42.50.
RATES = (3_500, 4_000, 4_250, 3_750)


def _id(hub_id: uuid.UUID, *what: object) -> uuid.UUID:
    return ops.derived_id("demo", hub_id, *what)


def plan(
    hub_id: uuid.UUID, index: int, today: date
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The hub's demo allocations and spend for the financial year of ``today`` (pure)."""
    year = years.financial_year_of(today)
    start = years.bounds(year)[0]
    scale = SCALES[index % len(SCALES)]
    allocations = [
        {
            "id": _id(hub_id, year, "grant", line),
            "financial_year": year,
            "line": line,
            "amount": amount * scale // 100,
            "source": GRANT,
            "note": f"{year} grant letter",
        }
        for line, amount in GRANT_LINES.items()
    ]
    if index % 2 == 0:
        line, amount, source = TOP_UP
        allocations.append(
            {
                "id": _id(hub_id, year, "top-up"),
                "financial_year": year,
                "line": line,
                "amount": amount,
                "source": source,
                "note": None,
            }
        )
    spends = [
        {
            "id": _id(hub_id, year, "spend", n),
            "line": line,
            "amount": amount,
            "description": description,
            "spent_on": start + timedelta(days=offset),
            "reference": reference,
        }
        for n, (line, amount, description, offset, reference) in enumerate(SPENDS)
        if start + timedelta(days=offset) <= today
    ]
    return allocations, spends


def seed(settings: Settings, hubs: list[Mapping[str, Any]]) -> dict[str, int]:
    """Fund each of ``hubs`` (dicts with an ``id``) for the current financial year."""
    db = Database(settings.database_url("budget"), name="budget")
    today = years.london_date(utcnow())
    try:
        hub_ids = [uuid.UUID(str(h["id"])) for h in hubs]
        for index, hub_id in enumerate(hub_ids):
            _seed_hub(db, hub_id, index, today)
        with db.read() as s:
            counts = dict(
                s.execute(
                    select(Transfer.kind, func.count())
                    .where(Transfer.hub_id.in_(hub_ids), Transfer.created_by == SEEDER)
                    .group_by(Transfer.kind)
                ).all()
            )
        return {
            "budget allocations": int(counts.get(ALLOCATION, 0)),
            "budget spend": int(counts.get(SPEND, 0)),
        }
    finally:
        db.dispose()


def _seed_hub(db: Database, hub_id: uuid.UUID, index: int, today: date) -> None:
    allocations, spends = plan(hub_id, index, today)
    with db.transaction() as s:
        if s.get(HubSettings, hub_id) is None:
            ops.save_settings(
                s,
                hub_id,
                {
                    "alert_thresholds": [80, 100],
                    "overdraft_lines": [],
                    "no_show_policy": "void",
                    "mentor_hourly_rate_pence": RATES[index % len(RATES)],
                },
                by=SEEDER,
                now=utcnow(),
            )
        for a in allocations:
            ops.allocate(
                s,
                hub_id,
                transfer_id=a["id"],
                financial_year=a["financial_year"],
                line=a["line"],
                amount=a["amount"],
                source=a["source"],
                note=a["note"],
                by=SEEDER,
            )
        for x in spends:
            ops.spend(
                s,
                hub_id,
                transfer_id=x["id"],
                line=x["line"],
                amount=x["amount"],
                description=x["description"],
                spent_on=x["spent_on"],
                reference=x["reference"],
                by=SEEDER,
            )
