"""Catalogue end to end: the real gateway, catalogue, bookings and workers in processes.

Everything goes through the gateway's public URL: hubs and leads made by the admin,
programmes made by hub leads, the public listing and hub calendar read anonymously,
and the bus proven by bookings applying what the catalogue published.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from shared.messaging.testing import wait_until as shared_wait_until
from tests.support.icaljs import parse_with_icaljs
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e

LONDON = ZoneInfo("Europe/London")
ADMIN = ("admin@example.org", "admin-password")
PASSWORD = "e2e catalogue password"


#: Waits end as soon as the platform has done the work; the limit is for slow machines.
wait_until = partial(shared_wait_until, timeout=30.0, interval=0.1)


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def soon(days: int, hour: int = 10) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(
        hour=hour, minute=0, second=0, microsecond=0
    )


@dataclass
class Hub:
    id: str
    name: str
    lead: str  # the lead's token


@dataclass
class World:
    platform: Platform
    admin: str
    north: Hub
    south: Hub

    def event(self, hub: Hub, **overrides: Any) -> dict[str, Any]:
        body = {
            "hub_id": hub.id,
            "title": "Early maths through play",
            "kind": "training",
            "summary": "Counting, pattern and shape in continuous provision.",
            "format": "in_person",
            "audience": ["childminder", "nursery"],
            "topics": ["mathematics"],
            "cpd_hours": 2,
            "capacity": 12,
            "venue": "Hub room 1, 1 High Street, Lewes",
            **overrides,
        }
        resp = self.platform.post("/api/catalogue/events", token=hub.lead, json=body)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def sessions(
        self, hub: Hub, event: dict[str, Any], start: datetime, hours: float = 2, **more: Any
    ) -> list[dict[str, Any]]:
        resp = self.platform.post(
            f"/api/catalogue/events/{event['id']}/sessions",
            token=hub.lead,
            json={
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=hours)).isoformat(),
                **more,
            },
        )
        assert resp.status_code == 201, resp.text
        return resp.json()["items"]

    def publish(self, hub: Hub, event: dict[str, Any]) -> None:
        resp = self.platform.post(f"/api/catalogue/events/{event['id']}/publish", token=hub.lead)
        assert resp.status_code == 200, resp.text

    def listing(self, **params: Any) -> list[dict[str, Any]]:
        """Every page of the public listing (no token), checking each page's size."""
        items: list[dict[str, Any]] = []
        cursor = None
        limit = int(params.pop("limit", 100))
        for _ in range(500):
            query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
            resp = self.platform.get(f"/api/catalogue/sessions?{urlencode(query)}")
            assert resp.status_code == 200, resp.text
            body = resp.json()
            assert len(body["items"]) <= limit
            items += body["items"]
            cursor = body["next_cursor"]
            if not cursor:
                return items
        raise AssertionError("paging did not end")


def _hub_with_lead(platform: Platform, admin: str, label: str) -> Hub:
    name = f"{label} Stronger Practice Hub {uuid.uuid4().hex[:6]}"
    resp = platform.post(
        "/api/catalogue/hubs", token=admin, json={"name": name, "region": "North East"}
    )
    assert resp.status_code == 201, resp.text
    hub_id = resp.json()["id"]
    email = f"lead-{uuid.uuid4().hex[:8]}@example.org"
    made = platform.post(
        "/api/auth/users",
        token=admin,
        json={
            "email": email,
            "password": PASSWORD,
            "name": f"{label} Lead",
            "roles": ["hub_lead"],
            "hub_ids": [hub_id],
        },
    )
    assert made.status_code == 201, made.text
    return Hub(id=hub_id, name=name, lead=platform.login(email, PASSWORD))


@pytest.fixture(scope="module")
def world(platform: Platform) -> World:
    admin = platform.login(*ADMIN)
    return World(
        platform=platform,
        admin=admin,
        north=_hub_with_lead(platform, admin, "Tees Valley"),
        south=_hub_with_lead(platform, admin, "East Sussex"),
    )


def test_weekly_series_across_march_keeps_18_00_london(world: World) -> None:
    event = world.event(world.north, kind="network_meeting", title="Network across the change")
    items = world.sessions(
        world.north, event, london(2027, 3, 16, 18, 0), rrule="FREQ=WEEKLY;COUNT=4"
    )
    assert [i["starts_at"] for i in items] == [
        "2027-03-16T18:00:00Z",
        "2027-03-23T18:00:00Z",
        "2027-03-30T17:00:00Z",
        "2027-04-06T17:00:00Z",
    ]
    local = {
        datetime.fromisoformat(i["starts_at"].replace("Z", "+00:00")).astimezone(LONDON).hour
        for i in items
    }
    assert local == {18}


def test_drafts_are_invisible_publicly(world: World) -> None:
    draft = world.event(world.north, title=f"Draft {uuid.uuid4().hex[:6]}")
    (session,) = world.sessions(world.north, draft, soon(20))
    p = world.platform
    assert p.get(f"/api/catalogue/events/{draft['id']}").status_code == 404
    assert p.get(f"/api/catalogue/sessions/{session['id']}").status_code == 404
    other_lead = world.south.lead
    assert p.get(f"/api/catalogue/sessions/{session['id']}", token=other_lead).status_code == 404
    assert session["id"] not in {i["id"] for i in world.listing(hub_id=world.north.id)}
    assert p.get(f"/api/catalogue/events/{draft['id']}", token=world.north.lead).status_code == 200
    ics = p.get(f"/calendar/hubs/{world.north.id}.ics")
    assert draft["title"].encode() not in ics.content


def test_every_filter_filters_and_paging_walks_everything(world: World) -> None:
    hub = world.south
    made = {
        "webinar": world.event(
            hub,
            title="Talking and listening webinar",
            kind="webinar",
            format="online",
            venue=None,
            online_url="https://meet.example.org/talk",
            audience=["childminder"],
            topics=["communication_language"],
        ),
        "moderation": world.event(
            hub,
            title="Reception moderation",
            kind="moderation",
            format="hybrid",
            online_url="https://meet.example.org/mod",
            audience=["school"],
            topics=["moderation", "literacy"],
        ),
        "training": world.event(hub, title="Maths outdoors", audience=["nursery"]),
    }
    for n, event in enumerate(made.values()):
        world.sessions(hub, event, soon(30 + n, hour=9), rrule="FREQ=DAILY;COUNT=7")
        world.publish(hub, event)
    by_event = {e["id"]: k for k, e in made.items()}

    def kinds(**params: Any) -> set[str]:
        return {by_event[i["event_id"]] for i in world.listing(hub_id=hub.id, **params)}

    assert kinds() == {"webinar", "moderation", "training"}
    assert kinds(kind="webinar") == {"webinar"}
    assert kinds(format="hybrid") == {"moderation"}
    assert kinds(audience="school") == {"moderation"}
    assert kinds(audience="nursery") == {"training"}
    assert kinds(topic="literacy") == {"moderation"}
    assert kinds(q="maths outdoors") == {"training"}
    assert kinds(q="listening") == {"webinar"}
    window = world.listing(
        hub_id=hub.id, **{"from": soon(31, 0).isoformat(), "to": soon(32, 0).isoformat()}
    )
    assert len(window) == 2 and all(  # webinar and moderation start that day
        soon(31, 0) <= datetime.fromisoformat(i["starts_at"].replace("Z", "+00:00")) < soon(32, 0)
        for i in window
    )
    assert world.listing(hub_id=world.north.id, kind="moderation") == []

    everything = world.listing(hub_id=hub.id)
    assert len(everything) == 21
    for limit in (1, 4, 10):
        paged = world.listing(hub_id=hub.id, limit=limit)
        assert [i["id"] for i in paged] == [i["id"] for i in everything]
    keys = [(i["starts_at"], i["id"]) for i in everything]
    assert keys == sorted(keys) and len(set(keys)) == 21


def test_hub_calendar_in_icaljs_across_both_changes(world: World) -> None:
    event = world.event(world.north, title="Evening network", kind="network_meeting")
    spring = world.sessions(
        world.north, event, london(2027, 3, 23, 18, 0), rrule="FREQ=WEEKLY;COUNT=2"
    )
    autumn = world.sessions(
        world.north, event, london(2027, 10, 26, 18, 0), rrule="FREQ=WEEKLY;COUNT=2"
    )
    world.publish(world.north, event)
    resp = world.platform.get(f"/calendar/hubs/{world.north.id}.ics")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/calendar")
    cal = parse_with_icaljs(resp.content)
    assert cal["method"] == "PUBLISH" and cal["calname"] == world.north.name
    by_id = {e["uid"].split("@")[0]: e for e in cal["events"]}
    got = [by_id[f"session-{s['id']}"] for s in spring + autumn]
    assert [e["start"] for e in got] == [
        "2027-03-23T18:00:00Z",
        "2027-03-30T17:00:00Z",
        "2027-10-26T17:00:00Z",
        "2027-11-02T18:00:00Z",
    ]
    assert {e["dtstart"]["zone"] for e in got} == {"Europe/London"}
    again = world.platform.get(
        f"/calendar/hubs/{world.north.id}.ics", headers={"If-None-Match": resp.headers["ETag"]}
    )
    assert again.status_code == 304


def test_cancelled_session_is_cancelled_in_feed_and_gone_from_listing(world: World) -> None:
    hub = world.north
    event = world.event(hub, title=f"Phonics {uuid.uuid4().hex[:6]}")
    keep, drop = world.sessions(hub, event, soon(25), rrule="FREQ=WEEKLY;COUNT=2")
    world.publish(hub, event)
    resp = world.platform.post(
        f"/api/catalogue/sessions/{drop['id']}/cancel", token=hub.lead, json={"reason": "Snow"}
    )
    assert resp.status_code == 200, resp.text
    listed = {i["id"] for i in world.listing(hub_id=hub.id)}
    assert keep["id"] in listed and drop["id"] not in listed
    cal = parse_with_icaljs(world.platform.get(f"/calendar/hubs/{hub.id}.ics").content)
    by_id = {e["uid"].split("@")[0]: e for e in cal["events"]}
    assert by_id[f"session-{drop['id']}"]["status"] == "CANCELLED"
    assert by_id[f"session-{drop['id']}"]["sequence"] == 1
    assert by_id[f"session-{keep['id']}"]["status"] == "CONFIRMED"


def test_a_lead_cannot_touch_another_hubs_events(world: World) -> None:
    theirs = world.event(world.south, title="Not yours")
    (session,) = world.sessions(world.south, theirs, soon(22))
    world.publish(world.south, theirs)
    p, me = world.platform, world.north.lead
    for method, path, body in [
        ("POST", "/api/catalogue/events", {**theirs, "hub_id": world.south.id}),
        ("PATCH", f"/api/catalogue/events/{theirs['id']}", {"title": "Mine"}),
        ("POST", f"/api/catalogue/events/{theirs['id']}/publish", None),
        ("POST", f"/api/catalogue/events/{theirs['id']}/cancel", {"reason": "x"}),
        ("GET", f"/api/catalogue/events/{theirs['id']}/history", None),
        ("PATCH", f"/api/catalogue/sessions/{session['id']}", {"capacity": 2}),
        ("POST", f"/api/catalogue/sessions/{session['id']}/cancel", {"reason": "x"}),
    ]:
        if method == "POST" and path == "/api/catalogue/events":
            body = {k: v for k, v in body.items() if k in _EVENT_INPUT}
        resp = p.request(method, path, token=me, json=body)
        assert resp.status_code == 403, (method, path, resp.text)
        assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert p.get(f"/api/catalogue/sessions/{session['id']}").json()["capacity"] == 12


_EVENT_INPUT = {
    "hub_id", "title", "kind", "summary", "description", "format", "audience", "topics",
    "cpd_hours", "price_pence", "funded_places", "cost_per_funded_place_pence", "capacity",
    "venue", "online_url",
}  # fmt: skip


def test_changes_reach_bookings_over_the_bus(world: World) -> None:
    """Published, resized and cancelled in the catalogue; bookings (another process,
    another database) follows from the events it consumed."""
    hub = world.north
    event = world.event(hub, title=f"Bus check {uuid.uuid4().hex[:6]}", capacity=5)
    (session,) = world.sessions(hub, event, soon(26))
    world.publish(hub, event)
    p = world.platform
    email = f"prac-{uuid.uuid4().hex[:8]}@example.org"
    made = p.post(
        "/api/auth/users",
        token=world.admin,
        json={
            "email": email,
            "password": PASSWORD,
            "name": "Pat Practitioner",
            "roles": ["practitioner"],
            "hub_ids": [hub.id],
            "setting_type": "childminder",
        },
    )
    assert made.status_code == 201, made.text
    booker = p.login(email, PASSWORD)
    booking = p.post("/api/bookings", token=booker, json={"session_id": session["id"]})
    assert booking.status_code == 201, booking.text
    url = f"/api/bookings/sessions/{session['id']}/availability"
    resized = p.request(
        "PATCH", f"/api/catalogue/sessions/{session['id']}", token=hub.lead, json={"capacity": 9}
    )
    assert resized.status_code == 200 and resized.json()["sequence"] == 1
    wait_until(
        lambda: p.get(url).json().get("capacity") == 9, what="bookings to apply the new capacity"
    )
    cancelled = p.post(
        f"/api/catalogue/sessions/{session['id']}/cancel", token=hub.lead, json={"reason": "Ill"}
    )
    assert cancelled.status_code == 200
    booking_url = f"/api/bookings/{booking.json()['id']}"
    wait_until(
        lambda: p.get(booking_url, token=booker).json().get("status") == "cancelled",
        what="bookings to cancel the booking of the cancelled session",
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/catalogue/sessions?from=next%20tuesday", None, 422),
        ("GET", "/api/catalogue/sessions?cursor=%%%", None, 422),
        ("GET", "/api/catalogue/sessions?limit=1000", None, 422),
        ("GET", "/api/catalogue/sessions?kind=disco", None, 422),
        ("GET", "/api/catalogue/sessions/not-a-uuid", None, 404),
        ("GET", "/api/catalogue/events/12345", None, 404),
        ("GET", "/calendar/hubs/not-a-uuid.ics", None, 404),
    ],
)
def test_bad_input_is_a_4xx_problem(
    world: World, method: str, path: str, body: Any, status: int
) -> None:
    resp = world.platform.request(method, path, json=body)
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/problem+json")


def test_bad_bodies_from_a_lead_are_422(world: World) -> None:
    event = world.event(world.north)
    p, lead = world.platform, world.north.lead
    bad_session = p.post(
        f"/api/catalogue/events/{event['id']}/sessions",
        token=lead,
        json={"starts_at": "2027-13-01T10:00:00Z", "ends_at": "2027-01-01T11:00:00+00:00"},
    )
    assert bad_session.status_code == 422 and "starts_at" in bad_session.json()["errors"]
    huge = p.post(
        "/api/catalogue/events",
        token=lead,
        json={"hub_id": world.north.id, "title": "x" * 100_000, "kind": "training"},
    )
    assert huge.status_code == 422 and "title" in huge.json()["errors"]
    rule = p.post(
        f"/api/catalogue/events/{event['id']}/sessions",
        token=lead,
        json={
            "starts_at": soon(40).isoformat(),
            "ends_at": (soon(40) + timedelta(hours=1)).isoformat(),
            "rrule": "FREQ=SECONDLY;COUNT=100000",
        },
    )
    assert rule.status_code == 422 and "rrule" in rule.json()["errors"]
