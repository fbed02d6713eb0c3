"""Demo activity that needs the running platform: card payments and funded places.

``eyhub up --demo`` runs this once every process is ready, through the public API as the
demo practitioners would (so Stripe — the local stand-in — takes real Checkout payments,
its webhooks confirm them, and the budget's saga commits the funded places). Each hub
then has card income to reconcile and commitments on its budget. Idempotent: every
booking carries an Idempotency-Key derived from the person and the session, and a place
already paid is not paid again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import requests

from gateway import demo as gateway_demo
from shared.config import Settings

log = logging.getLogger("eyhub.demo")


class _Api:
    def __init__(self, settings: Settings, email: str, password: str) -> None:
        self.base = settings.gateway_url
        self.http = requests.Session()
        answer = self.http.post(
            f"{self.base}/api/auth/token", json={"email": email, "password": password}, timeout=10
        )
        answer.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def get(self, path: str, **params: Any) -> Any:
        answer = self.http.get(f"{self.base}{path}", params=params, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def book(self, session_id: str, key: str, *, funded: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {"session_id": session_id}
        if funded:
            body["request_funding"] = True
        answer = self.http.post(
            f"{self.base}/api/bookings", json=body, headers={"Idempotency-Key": key}, timeout=30
        )
        if answer.status_code == 409:  # already booked another way, or the session is full
            return {}
        answer.raise_for_status()
        return dict(answer.json())


def _upcoming(api: _Api, hub_id: str) -> Iterator[dict[str, Any]]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    page = api.get("/api/catalogue/sessions", hub_id=hub_id, **{"from": now}, limit=100)
    yield from page.get("items", [])


def play(settings: Settings) -> dict[str, int]:
    """For each demo practitioner: pay for one place by card and ask for one funded place
    in their hub. Returns what was done."""
    done = {"card payments": 0, "funded requests": 0}
    for _name, local, _setting, _setting_name in gateway_demo.PRACTITIONERS:
        email = f"{local}@example.org"
        api = _Api(settings, email, gateway_demo.DEMO_PASSWORD)
        hubs = api.get("/api/auth/me").get("hub_ids") or []
        if not hubs:
            continue
        sessions = list(_upcoming(api, hubs[0]))
        paid = next((s for s in sessions if s.get("price_pence")), None)
        funded = next(
            (
                s
                for s in sessions
                if s.get("funded_places") and s is not paid and not s.get("price_pence")
            ),
            None,
        ) or next((s for s in sessions if s.get("funded_places") and s is not paid), None)
        if paid is not None:
            booking = api.book(str(paid["id"]), f"demo-pay-{email}-{paid['id']}")
            if booking.get("status") == "pending_payment" and booking.get("checkout_url"):
                # As the hosted page's "Pay with test card" button does.
                requests.post(booking["checkout_url"] + "/pay", allow_redirects=False, timeout=10)
                done["card payments"] += 1
        if funded is not None:
            key = f"demo-fund-{email}-{funded['id']}"
            if api.book(str(funded["id"]), key, funded=True):
                done["funded requests"] += 1
    return done
