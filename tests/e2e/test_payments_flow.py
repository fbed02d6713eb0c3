"""Card payments end to end on the real processes (issue 12): a practitioner books a paid
session through the gateway, pays on the Stripe stand-in's hosted page, and Stripe's
webhook, sent by the stand-in through the gateway's public route, confirms the place
with a receipt and an invite. A forged webhook changes nothing; the same event resent
is applied once; cancelling in time refunds the card."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from shared.config import STRIPE_LOCAL_OFFSET
from shared.messaging.testing import wait_until
from tests.support.mailbox import mails_to
from tests.support.platform import Platform

ADMIN = ("admin@example.org", "admin-password")
PASSWORD = "e2e payments password"
PRICE = 3000


def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, (resp.status_code, resp.text)
    return resp.json()


def _person(platform: Platform, admin: str, role: str, hub_id: str) -> tuple[str, str]:
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.org"
    body = {
        "email": email,
        "password": PASSWORD,
        "name": f"Paying {role.title()}",
        "roles": [role],
        "hub_ids": [hub_id],
        "setting_type": "childminder",
    }
    _ok(platform.post("/api/auth/users", token=admin, json=body), 201)
    return email, platform.login(email, PASSWORD)


def _paid_session(platform: Platform, admin: str, lead: str, hub: str) -> str:
    starts = (datetime.now(UTC) + timedelta(days=20)).replace(microsecond=0)
    event = _ok(
        platform.post(
            "/api/catalogue/events",
            token=lead,
            json={
                "hub_id": hub,
                "title": "Accredited paediatric first aid",
                "kind": "training",
                "format": "in_person",
                "audience": ["childminder"],
                "cpd_hours": 6,
                "capacity": 5,
                "price_pence": PRICE,
                "refund_days_before": 7,
                "venue": "Hub room 2",
            },
        ),
        201,
    )
    session = _ok(
        platform.post(
            f"/api/catalogue/events/{event['id']}/sessions",
            token=lead,
            json={
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=6)).isoformat(),
            },
        ),
        201,
    )
    _ok(platform.post(f"/api/catalogue/events/{event['id']}/publish", token=lead))
    return str(session["items"][0]["id"])


def test_book_pay_on_the_hosted_page_confirmed_by_webhook_then_refunded(
    platform: Platform,
) -> None:
    admin = platform.login(*ADMIN)
    hub = _ok(
        platform.post(
            "/api/catalogue/hubs",
            token=admin,
            json={"name": f"Paying hub {uuid.uuid4().hex[:6]}", "region": "North East"},
        ),
        201,
    )["id"]
    _lead_email, lead = _person(platform, admin, "hub_lead", hub)
    email, practitioner = _person(platform, admin, "practitioner", hub)
    session_id = _paid_session(platform, admin, lead, hub)
    stripe_base = platform.service_url(STRIPE_LOCAL_OFFSET)

    booking = _ok(
        platform.post("/api/bookings", token=practitioner, json={"session_id": session_id}), 201
    )
    assert booking["status"] == "pending_payment"
    assert booking["checkout_url"].startswith(stripe_base + "/pay/cs_")
    page = requests.get(booking["checkout_url"], timeout=10)
    assert page.status_code == 200 and "Pay with test card" in page.text and "£30.00" in page.text
    paid = requests.post(booking["checkout_url"] + "/pay", allow_redirects=False, timeout=10)
    assert paid.status_code == 303
    assert paid.headers["Location"].startswith(f"{platform.url}/my-bookings?paid={booking['id']}")

    def confirmed() -> dict[str, Any] | None:
        got = _ok(platform.get(f"/api/bookings/{booking['id']}", token=practitioner))
        return got if got["status"] == "confirmed" else None

    done = wait_until(confirmed, timeout=20, what="the webhook never confirmed the booking")
    assert done["funding"] == "paid" and done["paid_pence"] == PRICE
    mail = wait_until(
        lambda: [
            m for m in mails_to(platform, email) if m["Subject"].startswith("Paid and booked")
        ],
        timeout=20,
        what="no receipt",
    )[0]
    assert any(p.get_content_type() == "text/calendar" for p in mail.walk())

    # The stand-in's delivery went through the gateway and was accepted.
    deliveries = requests.get(f"{stripe_base}/_stripe_local/webhooks/deliveries", timeout=10).json()
    completed = [
        d
        for d in (deliveries["data"] if isinstance(deliveries, dict) else deliveries)
        if d.get("type") == "checkout.session.completed" and d.get("status") == 200
    ]
    assert completed, deliveries

    # A forged event through the gateway: 400, nothing changes.
    forged = json.dumps(
        {"id": "evt_forged", "type": "checkout.session.completed", "data": {"object": {}}}
    )
    resp = platform.http.post(
        f"{platform.url}/api/bookings/stripe/webhook",
        data=forged,
        headers={"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=deadbeef"},
        timeout=10,
    )
    assert resp.status_code == 400 and resp.json()["type"].endswith("bad-webhook-signature")
    # The real event again (as Stripe retries): applied once.
    event_id = completed[-1]["event_id"]
    _ok(requests.post(f"{stripe_base}/_stripe_local/events/{event_id}/resend", timeout=10))
    wait_until(
        lambda: (
            sum(
                d.get("event_id") == event_id and d.get("status") == 200
                for d in (lambda x: x["data"] if isinstance(x, dict) else x)(
                    requests.get(
                        f"{stripe_base}/_stripe_local/webhooks/deliveries", timeout=10
                    ).json()
                )
            )
            >= 2
        ),
        timeout=20,
        what="the resent event was not delivered",
    )
    assert len([m for m in mails_to(platform, email) if m["Subject"].startswith("Paid")]) == 1

    # Cancelling 20 days ahead (rule: 7) refunds the card in full.
    cancelled = _ok(platform.post(f"/api/bookings/{booking['id']}/cancel", token=practitioner))
    assert cancelled["status"] == "cancelled"
    refunded = wait_until(
        lambda: (lambda b: b if b["refund_status"] == "succeeded" else None)(
            _ok(platform.get(f"/api/bookings/{booking['id']}", token=practitioner))
        ),
        timeout=20,
        what="the refund never succeeded",
    )
    assert refunded["refunded_pence"] == PRICE
