"""Bookings end to end: the real gateway, catalogue, bookings and workers in processes.

Sessions are made the way a hub lead makes them (catalogue API); bookings go through
the gateway; mail is read from the worker's ``.eml`` output.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from threading import Barrier
from typing import Any, TypeVar

import pytest
import requests

from tests.support.platform import Platform

pytestmark = pytest.mark.e2e

T = TypeVar("T")
PASSWORD = "e2e-password-1234"


def wait_until(probe: Callable[[], T | None], *, timeout: float = 30.0, what: str = "") -> T:
    """Poll ``probe`` until it returns something truthy (no blind sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or probe}")
        time.sleep(0.1)


@dataclass
class World:
    """A hub, its lead and practitioners made for these tests on the shared platform."""

    platform: Platform
    admin: str
    hub_id: str
    lead: str
    people: list[tuple[str, str]] = field(default_factory=list)  # (email, token)

    def practitioners(self, n: int) -> list[tuple[str, str]]:
        while len(self.people) < n:
            email = f"p{len(self.people)}-{secrets.token_hex(3)}@example.org"
            resp = self.platform.post(
                "/api/auth/users",
                token=self.admin,
                json={
                    "email": email,
                    "password": PASSWORD,
                    "name": f"Practitioner {len(self.people)}",
                    "roles": ["practitioner"],
                    "hub_ids": [self.hub_id],
                    "setting_type": "childminder",
                },
            )
            assert resp.status_code == 201, resp.text
            self.people.append((email, self.platform.login(email, PASSWORD)))
        return self.people[:n]

    def new_session(
        self, *, capacity: int = 10, starts_at: datetime | None = None, hours: int = 2
    ) -> dict[str, Any]:
        """An event with one published session, made by the hub lead."""
        starts_at = starts_at or (datetime.now(UTC) + timedelta(days=14)).replace(
            hour=9, minute=30, second=0, microsecond=0
        )
        event = self.platform.post(
            "/api/catalogue/events",
            token=self.lead,
            json={
                "hub_id": self.hub_id,
                "title": f"Early maths in play {secrets.token_hex(2)}",
                "kind": "training",
                "summary": "Counting, pattern and shape through play.",
                "format": "in_person",
                "audience": ["childminder", "nursery"],
                "topics": ["mathematics"],
                "cpd_hours": hours,
                "price_pence": 0,
                "capacity": capacity,
                "venue": "Hub room 1, 1 High Street, Lewes",
            },
        )
        assert event.status_code == 201, event.text
        event_id = event.json()["id"]
        made = self.platform.post(
            f"/api/catalogue/events/{event_id}/sessions",
            token=self.lead,
            json={
                "starts_at": starts_at.isoformat(),
                "ends_at": (starts_at + timedelta(hours=hours)).isoformat(),
                "capacity": capacity,
            },
        )
        assert made.status_code == 201, made.text
        published = self.platform.post(f"/api/catalogue/events/{event_id}/publish", token=self.lead)
        assert published.status_code == 200, published.text
        return made.json()["items"][0]


@pytest.fixture(scope="module")
def world(platform: Platform) -> World:
    admin = platform.login(platform_admin_email(), "admin-password")
    hub = platform.post(
        "/api/catalogue/hubs",
        token=admin,
        json={"name": f"E2E Hub {secrets.token_hex(2)}", "region": "South East"},
    )
    assert hub.status_code == 201, hub.text
    hub_id = hub.json()["id"]
    lead_email = f"lead-{secrets.token_hex(3)}@example.org"
    resp = platform.post(
        "/api/auth/users",
        token=admin,
        json={
            "email": lead_email,
            "password": PASSWORD,
            "name": "Lee Lead",
            "roles": ["hub_lead"],
            "hub_ids": [hub_id],
        },
    )
    assert resp.status_code == 201, resp.text
    lead = platform.login(lead_email, PASSWORD)
    # Let bookings fetch the gateway's signing keys before the bursts below: a cold
    # service verifying 60 tokens at once asks the gateway for its JWKS while all the
    # gateway's threads wait on bookings, and answers 503 (reported to the lead).
    assert platform.get("/api/bookings", token=lead).status_code == 200
    return World(platform, admin, hub_id, lead)


def platform_admin_email() -> str:
    return "admin@example.org"


def mails_to(platform: Platform, email: str) -> list[EmailMessage]:
    folder = platform.backend.data_dir / "mail"
    if not folder.exists():
        return []
    parser = BytesParser(policy=policy.default)
    found = [parser.parsebytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]
    return [m for m in found if m["To"] == email]


def book_all(platform: Platform, tokens: list[str], session_id: str) -> list[requests.Response]:
    barrier = Barrier(len(tokens))

    def one(token: str) -> requests.Response:
        with requests.Session() as http:
            barrier.wait()
            return http.post(
                platform.url + "/api/bookings",
                json={"session_id": session_id},
                headers={"Authorization": f"Bearer {token}"},
                timeout=120,
            )

    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        return list(pool.map(one, tokens))


def test_sixty_concurrent_bookings_on_ten_places_then_a_promotion(world: World) -> None:
    platform = world.platform
    people = world.practitioners(60)
    session = world.new_session(capacity=10)
    responses = book_all(platform, [t for _e, t in people], session["id"])
    assert [r.status_code for r in responses] == [201] * 60, [r.text for r in responses[:3]]
    bodies = [r.json() for r in responses]
    assert sum(b["status"] == "confirmed" for b in bodies) == 10
    positions = sorted(b["waitlist_position"] for b in bodies if b["status"] == "waitlisted")
    assert positions == list(range(1, 51))
    avail = platform.get(f"/api/bookings/sessions/{session['id']}/availability").json()
    assert (avail["confirmed"], avail["waitlisted"], avail["remaining"]) == (10, 50, 0)

    by_email = {email: body for (email, _t), body in zip(people, bodies, strict=True)}
    first_confirmed = next(e for e, b in by_email.items() if b["status"] == "confirmed")
    head_email = next(e for e, b in by_email.items() if b.get("waitlist_position") == 1)
    token = dict(people)[first_confirmed]
    cancelled = platform.post(
        f"/api/bookings/{by_email[first_confirmed]['id']}/cancel", token=token
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    promoted = platform.get(
        f"/api/bookings/{by_email[head_email]['id']}", token=dict(people)[head_email]
    )
    assert promoted.json()["status"] == "confirmed"
    mail = wait_until(
        lambda: [m for m in mails_to(platform, head_email) if "place came up" in m["Subject"]],
        what="the promotion mail",
    )[0]
    assert any(part.get_content_type() == "text/calendar" for part in mail.walk())
    second = next(e for e, b in by_email.items() if b.get("waitlist_position") == 2)
    now_first = platform.get(f"/api/bookings/{by_email[second]['id']}", token=dict(people)[second])
    assert now_first.json()["waitlist_position"] == 1


def test_idempotent_replay_and_privacy_and_bad_input(world: World) -> None:
    platform = world.platform
    (_alice_email, alice), (_bob_email, bob) = world.practitioners(2)
    session = world.new_session(capacity=5)
    key = {"Idempotency-Key": secrets.token_hex(8)}
    first = platform.post(
        "/api/bookings", token=alice, json={"session_id": session["id"]}, headers=key
    )
    again = platform.post(
        "/api/bookings", token=alice, json={"session_id": session["id"]}, headers=key
    )
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    other = world.new_session(capacity=5)
    reused = platform.post(
        "/api/bookings", token=alice, json={"session_id": other["id"]}, headers=key
    )
    assert reused.status_code == 422
    assert reused.headers["Content-Type"].startswith("application/problem+json")
    dup = platform.post("/api/bookings", token=alice, json={"session_id": session["id"]})
    assert dup.status_code == 409

    booking_id = first.json()["id"]
    assert platform.get(f"/api/bookings/{booking_id}", token=bob).status_code == 404
    assert platform.post(f"/api/bookings/{booking_id}/cancel", token=bob).status_code == 404
    assert platform.get(f"/api/bookings/{booking_id}", token=alice).json()["status"] == "confirmed"
    bob_sees = platform.get("/api/bookings", token=bob).json()["items"]
    assert booking_id not in {b["id"] for b in bob_sees}

    before = platform.get(f"/api/bookings/sessions/{other['id']}/availability").json()
    for body in ({}, {"session_id": "nope"}, {"session_id": session["id"], "extra": 1}):
        resp = platform.post("/api/bookings", token=bob, json=body)
        assert resp.status_code == 422, resp.text
        assert resp.headers["Content-Type"].startswith("application/problem+json")
    missing = platform.post(
        "/api/bookings", token=bob, json={"session_id": "00000000-0000-4000-8000-000000000000"}
    )
    assert missing.status_code == 404
    assert platform.get(f"/api/bookings/sessions/{other['id']}/availability").json() == before
    assert platform.post("/api/bookings", json={"session_id": session["id"]}).status_code == 401
