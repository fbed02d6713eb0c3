"""Demo activity that needs the running platform: card payments, funded places and a
drop-in that has happened.

``eyhub up --demo`` runs this once every process is ready, through the public API as the
demo people would (so Stripe — the local stand-in — takes real Checkout payments, its
webhooks confirm them, and the budget's saga commits the funded places). Each hub then
has card income to reconcile and commitments on its budget.

Attendance can only be recorded once a session has started, and the API (rightly)
refuses to schedule or book the past. So each hub's lead schedules a short drop-in
starting a minute and a half after start-up, its practitioners book both of its
sessions, and once it has started the lead records the first session's attendance: the
practitioners then have a CPD record and certificates, and the second session's roster
is left for the lead to mark by hand.

Idempotent: every booking carries an Idempotency-Key derived from the person and the
session, a place already paid is not paid again, and a hub that has its drop-in keeps it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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

    def post(self, path: str, body: dict[str, Any]) -> Any:
        answer = self.http.post(f"{self.base}{path}", json=body, timeout=30)
        if not answer.ok:
            raise RuntimeError(f"POST {path}: {answer.status_code} {answer.text[:300]}")
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


#: The drop-in's title: how a hub that already has one is recognised.
DROP_IN_TITLE = "Drop-in: sharing practice (demo)"
#: How long after start-up the drop-in begins (attendance needs a started session).
DROP_IN_STARTS_IN = timedelta(seconds=90)


def _practitioners(settings: Settings) -> Iterator[tuple[str, _Api, str]]:
    """Each demo practitioner with a hub: (email, their API client, their first hub)."""
    for _name, local, _setting, _setting_name in gateway_demo.PRACTITIONERS:
        email = f"{local}@example.org"
        api = _Api(settings, email, gateway_demo.DEMO_PASSWORD)
        hubs = api.get("/api/auth/me").get("hub_ids") or []
        if hubs:
            yield email, api, str(hubs[0])


def _drop_in(lead: _Api, hub_id: str, starts: datetime) -> list[dict[str, Any]]:
    """The hub's drop-in, published: its two sessions (rooms), first room first. Made
    with two one-hour rooms at ``starts`` if the hub has none; one left half-made (a
    start-up stopped midway) is taken up where it stopped."""
    events = lead.get(
        "/api/catalogue/events", hub_id=hub_id, with_sessions="true", order="newest", limit=100
    ).get("items", [])
    event = next((e for e in events if e.get("title") == DROP_IN_TITLE), None)
    if event is None:
        event = lead.post(
            "/api/catalogue/events",
            {
                "hub_id": hub_id,
                "title": DROP_IN_TITLE,
                "kind": "training",
                "summary": "Bring one thing that worked this term and one question. "
                "Two rooms: the first marked by the demo, the second left for you to mark.",
                "format": "in_person",
                "audience": ["childminder", "nursery", "preschool", "school", "childrens_centre"],
                "topics": ["childminding_practice"],
                "cpd_hours": 1,
                "price_pence": 0,
                "capacity": 30,
                "venue": "Hub meeting room",
            },
        )
        event["sessions"] = []
    rooms = list(event.get("sessions") or [])
    while len(rooms) < 2 and starts > datetime.now(UTC):
        made = lead.post(
            f"/api/catalogue/events/{event['id']}/sessions",
            {
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=1)).isoformat(),
                "capacity": 30,
            },
        )
        rooms += made["items"]
    if event.get("status") == "draft":
        lead.post(f"/api/catalogue/events/{event['id']}/publish", {})
    return sorted(rooms, key=lambda r: (r["starts_at"], r["id"]))[:2]


def drop_ins(settings: Settings, starts_in: timedelta = DROP_IN_STARTS_IN) -> int:
    """Each hub's drop-in (``_drop_in``): its practitioners book both rooms while they
    can, and once it has started the first room's confirmed bookings are marked as
    attended. Returns how many people were marked now (0 when every hub's drop-in was
    done on an earlier start)."""
    starts = (datetime.now(UTC) + starts_in).replace(microsecond=0)
    hubs = requests.get(f"{settings.gateway_url}/api/catalogue/hubs", timeout=10).json()
    leads: dict[str, _Api] = {}
    for person in gateway_demo.people(hubs["items"]):  # the demo's lead logins
        if "hub_lead" not in person["roles"]:
            continue
        try:
            lead = _Api(settings, person["email"], gateway_demo.DEMO_PASSWORD)
        except requests.HTTPError:
            continue  # a hub made after the demo (by hand or by a test) has no demo lead
        for hub_id in lead.get("/api/auth/me").get("hub_ids") or []:
            leads.setdefault(str(hub_id), lead)
    rooms = {hub_id: _drop_in(lead, hub_id, starts) for hub_id, lead in leads.items()}
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for email, api, hub_id in _practitioners(settings):
        for room in rooms.get(hub_id, []):
            if room["starts_at"] > now:  # (API times are all "...Z": they sort as text)
                api.book(str(room["id"]), f"demo-drop-in-{email}-{room['id']}")
    first_rooms = {hub_id: r[0] for hub_id, r in rooms.items() if r}
    begins = max(
        (
            datetime.fromisoformat(r["starts_at"].replace("Z", "+00:00"))
            for r in first_rooms.values()
        ),
        default=None,
    )
    if begins is not None:
        time.sleep(max(0.0, (begins - datetime.now(UTC)).total_seconds()) + 1)
    marked = 0
    for hub_id, room in first_rooms.items():
        lead = leads[hub_id]
        page = lead.get("/api/bookings", session_id=str(room["id"]), limit=200)
        records = [
            {"booking_id": str(b["id"]), "attended": True}
            for b in page.get("items", [])
            if b.get("status") == "confirmed"
        ]
        if records:
            lead.post(f"/api/bookings/sessions/{room['id']}/attendance", {"records": records})
            marked += len(records)
    return marked


def play(settings: Settings, drop_in_starts_in: timedelta = DROP_IN_STARTS_IN) -> dict[str, int]:
    """For each demo practitioner: pay for one place by card and ask for one funded place
    in their hub; then each hub's drop-in (``drop_ins``). Returns what was done."""
    done = {"card payments": 0, "funded requests": 0}
    for email, api, hub_id in _practitioners(settings):
        sessions = list(_upcoming(api, hub_id))
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
    done["drop-in attendances"] = drop_ins(settings, drop_in_starts_in)
    return done
