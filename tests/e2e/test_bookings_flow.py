"""Bookings end to end: the real gateway, catalogue, bookings and workers in processes.

Sessions are made the way a hub lead makes them (catalogue API); bookings go through
the gateway; mail is read from the worker's ``.eml`` output.
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from functools import partial
from threading import Barrier
from typing import Any

import pytest
import requests

from shared.messaging.testing import wait_until as shared_wait_until
from tests.support.icaljs import parse_with_icaljs
from tests.support.mailbox import mails_to
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e

PASSWORD = "e2e-password-1234"


#: Waits end as soon as the platform has done the work; the limit is for slow machines.
wait_until = partial(shared_wait_until, timeout=30.0, interval=0.1)


@dataclass
class World:
    """A hub, its lead and practitioners made for these tests on the shared platform."""

    platform: Platform
    admin: str
    hub_id: str
    lead: str
    people: list[tuple[str, str]] = field(default_factory=list)  # (email, token)

    def practitioners(self, n: int) -> list[tuple[str, str]]:
        """``n`` new practitioners (own mailboxes) as (email, token)."""
        made = []
        for _ in range(n):
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
            made.append(self.people[-1])
        return made

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


def _invite(mail: EmailMessage) -> tuple[str, dict[str, Any]]:
    """(MIME method, the one event as ical.js reads it) of an invite mail."""
    part = next(p for p in mail.walk() if p.get_content_type() == "text/calendar")
    cal = parse_with_icaljs(part.get_content().encode())
    assert cal["method"] == part.get_param("method")
    (event,) = cal["events"]
    return part.get_param("method"), event


def test_invites_follow_a_reschedule_across_dst_and_a_cancellation(world: World) -> None:
    platform = world.platform
    ((email, token),) = world.practitioners(1)
    # Saturday 27 March 2027, 10:00 in London is still GMT ...
    session = world.new_session(capacity=5, starts_at=datetime(2027, 3, 27, 10, 0, tzinfo=UTC))
    booking = platform.post("/api/bookings", token=token, json={"session_id": session["id"]})
    assert booking.status_code == 201, booking.text
    booking_id = booking.json()["id"]
    # ... and a week later 10:00 London is BST, 09:00Z. The catalogue tells bookings by bus.
    moved = platform.request(
        "PATCH",
        f"/api/catalogue/sessions/{session['id']}",
        token=world.lead,
        json={"starts_at": "2027-04-03T10:00:00+01:00", "ends_at": "2027-04-03T12:00:00+01:00"},
    )
    assert moved.status_code == 200, moved.text
    wait_until(
        lambda: [m for m in mails_to(platform, email) if m["Subject"].startswith("Moved")],
        what="the update invite",
    )
    assert platform.post(f"/api/bookings/{booking_id}/cancel", token=token).status_code == 200
    mails = wait_until(
        lambda: (found := mails_to(platform, email)) and len(found) >= 3 and found,
        what="three invite mails",
    )
    # .eml names only order by the second; SEQUENCE is the order clients go by anyway.
    invites = sorted((_invite(m) for m in mails), key=lambda i: i[1]["sequence"])
    assert [m for m, _e in invites] == ["REQUEST", "REQUEST", "CANCEL"]
    events = [e for _m, e in invites]
    assert {e["uid"] for e in events} == {f"booking-{booking_id}@127.0.0.1"}
    assert [e["sequence"] for e in events] == [0, 1, 2]
    assert [e["status"] for e in events] == ["CONFIRMED", "CONFIRMED", "CANCELLED"]
    assert events[0]["start"] == "2027-03-27T10:00:00Z"
    assert events[1]["start"] == "2027-04-03T09:00:00Z"
    assert events[1]["dtstart"]["local"] == "2027-04-03T10:00:00"
    assert events[1]["dtstart"]["zone"] == "Europe/London"


def test_capacity_raise_and_hub_cancellation_arrive_by_bus(world: World) -> None:
    platform = world.platform
    (a_email, a), (_b_email, b), (_c_email, c) = world.practitioners(3)
    session = world.new_session(capacity=1)
    ids = [
        platform.post("/api/bookings", token=t, json={"session_id": session["id"]}).json()["id"]
        for t in (a, b, c)
    ]
    raised = platform.request(
        "PATCH", f"/api/catalogue/sessions/{session['id']}", token=world.lead, json={"capacity": 2}
    )
    assert raised.status_code == 200, raised.text
    wait_until(
        lambda: platform.get(f"/api/bookings/{ids[1]}", token=b).json()["status"] == "confirmed",
        what="the capacity raise to promote the head of the list",
    )
    assert platform.get(f"/api/bookings/{ids[2]}", token=c).json()["waitlist_position"] == 1

    cancelled = platform.post(
        f"/api/catalogue/sessions/{session['id']}/cancel",
        token=world.lead,
        json={"reason": "The trainer is unwell"},
    )
    assert cancelled.status_code == 200, cancelled.text
    for booking_id, token in zip(ids, (a, b, c), strict=True):
        wait_until(
            lambda booking_id=booking_id, token=token: (
                platform.get(f"/api/bookings/{booking_id}", token=token).json()["status"]
                == "cancelled"
            ),
            what="the hub's cancellation to cancel every booking",
        )
    mail = wait_until(
        lambda: [m for m in mails_to(platform, a_email) if "Cancelled by the hub" in m["Subject"]],
        what="the cancellation mail",
    )[0]
    method, event = _invite(mail)
    assert (method, event["status"]) == ("CANCEL", "CANCELLED")
    assert "The trainer is unwell" in mail.get_body(("plain",)).get_content()
    again = platform.post("/api/bookings", token=a, json={"session_id": session["id"]})
    assert again.status_code == 409


def test_feed_revalidates_changes_on_cancel_and_404s_after_revocation(world: World) -> None:
    platform = world.platform
    ((_email, token),) = world.practitioners(1)
    session = world.new_session(capacity=5)
    booking_id = platform.post(
        "/api/bookings", token=token, json={"session_id": session["id"]}
    ).json()["id"]
    feed = platform.post("/api/bookings/calendar-feeds", token=token, json={"scope": "me"})
    assert feed.status_code == 201, feed.text
    url = feed.json()["url"]
    assert url.startswith(platform.url + "/calendar/feeds/")
    path = url.removeprefix(platform.url)

    first = platform.get(path)
    assert first.status_code == 200
    assert first.headers["Content-Type"].startswith("text/calendar")
    assert "private" in first.headers["Cache-Control"]
    cal = parse_with_icaljs(first.content)
    assert cal["method"] == "PUBLISH"
    assert [e["status"] for e in cal["events"]] == ["CONFIRMED"]
    etag = first.headers["ETag"]
    assert platform.get(path, headers={"If-None-Match": etag}).status_code == 304

    platform.post(f"/api/bookings/{booking_id}/cancel", token=token)
    changed = platform.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert [e["status"] for e in parse_with_icaljs(changed.content)["events"]] == ["CANCELLED"]

    revoked = platform.request(
        "DELETE", f"/api/bookings/calendar-feeds/{feed.json()['id']}", token=token
    )
    assert revoked.status_code == 204
    assert platform.get(path).status_code == 404


def test_feed_tokens_stay_out_of_the_platform_logs(world: World) -> None:
    platform = world.platform
    ((_email, token),) = world.practitioners(1)
    url = platform.post("/api/bookings/calendar-feeds", token=token, json={"scope": "me"}).json()[
        "url"
    ]
    assert platform.get(url.removeprefix(platform.url)).status_code == 200
    secret = url.removeprefix(platform.url + "/calendar/feeds/").removesuffix(".ics")
    assert secret not in platform.log_path.read_text(errors="replace")
