"""The budget end to end on the real processes (issue 13): a hub lead allocates money, a
practitioner's funded request is committed over the bus and confirmed, attendance posts
the commitment as spend, and the summary and CSV show it; a card payment reconciles
against the Stripe stand-in as ``matched``, and a tampered amount as ``amount_mismatch``."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from shared.config import STRIPE_LOCAL_OFFSET
from shared.messaging.testing import wait_until
from tests.support.platform import Platform

ADMIN = ("admin@example.org", "admin-password")
PASSWORD = "e2e budget password"
COST = 5000
PRICE = 2500


def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, (resp.status_code, resp.text)
    return resp.json()


def _person(platform: Platform, admin: str, role: str, hub_id: str) -> str:
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.org"
    body = {
        "email": email,
        "password": PASSWORD,
        "name": f"Budget {role.title()}",
        "roles": [role],
        "hub_ids": [hub_id],
        "setting_type": "childminder",
    }
    _ok(platform.post("/api/auth/users", token=admin, json=body), 201)
    return platform.login(email, PASSWORD)


def _session(platform: Platform, lead: str, hub: str, starts: datetime, **fields: Any) -> str:
    body = {
        "hub_id": hub,
        "title": "Supporting early language",
        "kind": "training",
        "format": "in_person",
        "audience": ["childminder"],
        "cpd_hours": 3,
        "capacity": 10,
        "venue": "Hub room 3",
        **fields,
    }
    event = _ok(platform.post("/api/catalogue/events", token=lead, json=body), 201)
    times = {"starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=3)).isoformat()}
    made = platform.post(f"/api/catalogue/events/{event['id']}/sessions", token=lead, json=times)
    session_id = _ok(made, 201)["items"][0]["id"]
    _ok(platform.post(f"/api/catalogue/events/{event['id']}/publish", token=lead))
    return str(session_id)


def _line(summary: dict[str, Any], name: str) -> dict[str, Any]:
    return next(line for line in summary["lines"] if line["line"] == name)


def test_allocate_fund_attend_report_and_reconcile(platform: Platform) -> None:
    admin = platform.login(*ADMIN)
    hub = _ok(
        platform.post(
            "/api/catalogue/hubs",
            token=admin,
            json={"name": f"Budget hub {uuid.uuid4().hex[:6]}", "region": "Yorkshire"},
        ),
        201,
    )["id"]
    lead = _person(platform, admin, "hub_lead", hub)
    practitioner = _person(platform, admin, "practitioner", hub)
    base = f"/api/budget/hubs/{hub}"
    year = _ok(platform.get(f"{base}/summary", token=lead))["financial_year"]
    _ok(
        platform.post(
            f"{base}/allocations",
            token=lead,
            json={
                "financial_year": year,
                "line": "backfill",
                "amount_pence": 20_000,
                "source": "DfE Stronger Practice Hub grant",
            },
        ),
        201,
    )

    # A funded place on a session that starts in a few seconds (attendance needs it started).
    starts = (datetime.now(UTC) + timedelta(seconds=6)).replace(microsecond=0)
    funded_session = _session(
        platform,
        lead,
        hub,
        starts,
        funded_places=2,
        cost_per_funded_place_pence=COST,
        funding_line="backfill",
    )
    booking = _ok(
        platform.post(
            "/api/bookings",
            token=practitioner,
            json={"session_id": funded_session, "request_funding": True},
        ),
        201,
    )
    assert booking["status"] == "pending_funding"
    confirmed = wait_until(
        lambda: (
            b
            if (b := _ok(platform.get(f"/api/bookings/{booking['id']}", token=practitioner)))[
                "status"
            ]
            == "confirmed"
            else None
        ),
        timeout=20,
        what="the budget's commitment to confirm the funded place",
    )
    assert confirmed["funding"] == "funded"
    committed = _line(_ok(platform.get(f"{base}/summary", token=lead)), "backfill")
    assert (committed["committed"], committed["remaining"]) == (COST, 20_000 - COST)

    def attended() -> bool:
        resp = platform.post(
            f"/api/bookings/sessions/{funded_session}/attendance",
            token=lead,
            json={"records": [{"booking_id": booking["id"], "attended": True}]},
        )
        return resp.status_code == 200

    wait_until(attended, timeout=20, interval=0.2, what="the session to start")
    posted = wait_until(
        lambda: (
            line
            if (line := _line(_ok(platform.get(f"{base}/summary", token=lead)), "backfill"))[
                "spent"
            ]
            == COST
            else None
        ),
        timeout=20,
        what="attendance to post the commitment",
    )
    assert (posted["committed"], posted["remaining"]) == (0, 20_000 - COST)
    exported = platform.get(f"{base}/transfers", token=lead, params={"format": "csv"})
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    kinds = sorted(r["kind"] for r in rows)
    assert kinds == ["allocation", "pending", "post"], rows

    # A card payment: the ledger's income matches Stripe's charge.
    stripe_base = platform.service_url(STRIPE_LOCAL_OFFSET)
    paid_session = _session(
        platform, lead, hub, datetime.now(UTC) + timedelta(days=30), price_pence=PRICE
    )
    paying = _ok(
        platform.post("/api/bookings", token=practitioner, json={"session_id": paid_session}), 201
    )
    paid = requests.post(paying["checkout_url"] + "/pay", allow_redirects=False, timeout=10)
    assert paid.status_code == 303
    wait_until(
        lambda: (
            _line(_ok(platform.get(f"{base}/summary", token=lead)), "training_delivery")["income"]
            == PRICE
        ),
        timeout=20,
        what="the payment to reach the ledger",
    )
    today = datetime.now(UTC).date()
    window = {
        "from": (today - timedelta(days=1)).isoformat(),
        "to": (today + timedelta(days=1)).isoformat(),
    }
    report = _ok(platform.get(f"{base}/reconciliation", token=lead, params=window))
    [item] = [i for i in report["items"] if i["kind"] == "charge"]
    assert (item["status"], item["stripe_amount_pence"], item["ledger_amount_pence"]) == (
        "matched",
        PRICE,
        PRICE,
    )
    assert item["fee_pence"] > 0

    # Someone changed the amount at Stripe's end: the report says so.
    tampered = requests.post(
        f"{stripe_base}/_stripe_local/charges/{item['charge']}/tamper",
        json={"amount": PRICE - 100},
        timeout=10,
    )
    assert tampered.status_code == 200, tampered.text
    report = _ok(platform.get(f"{base}/reconciliation", token=lead, params=window))
    [item] = [i for i in report["items"] if i["kind"] == "charge"]
    assert (item["status"], item["stripe_amount_pence"], item["ledger_amount_pence"]) == (
        "amount_mismatch",
        PRICE - 100,
        PRICE,
    )
