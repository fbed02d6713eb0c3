"""Sessions: series across DST, time limits, reschedule, capacity, venue, cancel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.catalogue.recurrence import LONDON
from tests.catalogue.conftest import CatalogueApp, future, iso


def _london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def test_weekly_series_across_march_keeps_18_00_london(catalogue: CatalogueApp) -> None:
    hub = catalogue.hub()
    event = catalogue.event(hub["id"], kind="network_meeting", title="Childminder network")
    items = catalogue.sessions(
        event,
        starts_at=_london(2027, 3, 9, 18, 0),
        ends_at=_london(2027, 3, 9, 20, 0),
        rrule="FREQ=WEEKLY;COUNT=6",
    )
    assert [i["starts_at"] for i in items] == [
        "2027-03-09T18:00:00Z",
        "2027-03-16T18:00:00Z",
        "2027-03-23T18:00:00Z",
        "2027-03-30T17:00:00Z",  # BST from 28 March: still 18:00 in London
        "2027-04-06T17:00:00Z",
        "2027-04-13T17:00:00Z",
    ]
    assert {i["ends_at"][11:16] for i in items[3:]} == {"19:00"}
    assert len({i["series_id"] for i in items}) == 1 and items[0]["series_id"]
    assert all(i["capacity"] == 20 and i["sequence"] == 0 for i in items)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rrule": "FREQ=YEARLY;COUNT=2"}, "rrule"),
        ({"rrule": "FREQ=WEEKLY"}, "rrule"),
        ({"rrule": "FREQ=DAILY;COUNT=61"}, "rrule"),
        ({"rrule": "x" * 501}, "rrule"),
        ({"ends_at": "2027-01-01T09:00:00Z", "starts_at": "2027-01-01T10:00:00Z"}, "ends_at"),
        ({"ends_at": "2027-01-01T10:00:00Z", "starts_at": "2027-01-01T10:00:00Z"}, "ends_at"),
        ({"ends_at": "2027-01-01T22:01:00Z", "starts_at": "2027-01-01T10:00:00Z"}, "ends_at"),
        ({"starts_at": "2020-01-01T10:00:00Z", "ends_at": "2020-01-01T11:00:00Z"}, "starts_at"),
        ({"starts_at": "2027-01-01T10:00:00"}, "starts_at"),  # no offset
        ({"starts_at": "tomorrow at ten"}, "starts_at"),
        ({"starts_at": "2027-02-30T10:00:00Z"}, "starts_at"),
        ({"starts_at": "9999-12-31T23:59:59-23:59"}, "starts_at"),
        ({"starts_at": 1735689600}, "starts_at"),
        ({"capacity": 0}, "capacity"),
        ({"capacity": True}, "capacity"),
    ],
)
def test_bad_sessions_are_422(catalogue: CatalogueApp, body: dict, field: str) -> None:
    hub = catalogue.hub()
    event = catalogue.event(hub["id"])
    start = future()
    payload = {"starts_at": iso(start), "ends_at": iso(start + timedelta(hours=1)), **body}
    resp = catalogue.post(
        f"/api/catalogue/events/{event['id']}/sessions", payload, catalogue.lead(hub["id"])
    )
    assert resp.status_code == 422, resp.get_json()
    assert field in resp.get_json()["errors"], resp.get_json()


def test_session_added_to_a_published_event_is_scheduled_at_once(catalogue: CatalogueApp) -> None:
    hub = catalogue.hub()
    event = catalogue.event(hub["id"])
    catalogue.sessions(event)
    catalogue.publish(event)
    assert len(catalogue.outbox("catalogue.session.scheduled")) == 1
    (late,) = catalogue.sessions(event, starts_at=future(days=30), capacity=8)
    scheduled = catalogue.outbox("catalogue.session.scheduled")
    assert len(scheduled) == 2 and scheduled[-1].data["session_id"] == late["id"]
    assert scheduled[-1].data["capacity"] == 8


def test_reschedule_bumps_sequence_and_says_old_and_new(catalogue: CatalogueApp) -> None:
    hub = catalogue.hub()
    session = catalogue.published_session(hub["id"])
    lead = catalogue.lead(hub["id"])
    url = f"/api/catalogue/sessions/{session['id']}"
    new_start = future(days=20, hour=13)
    resp = catalogue.patch(url, {"starts_at": iso(new_start)}, lead)
    body = resp.get_json()
    assert resp.status_code == 200, body
    assert body["sequence"] == 1
    assert body["starts_at"] == new_start.strftime("%Y-%m-%dT%H:%M:%SZ")
    # Only the start given: the length is kept.
    assert body["ends_at"] == (new_start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (event,) = catalogue.outbox("catalogue.session.rescheduled")
    assert event.data["old_starts_at"].startswith(session["starts_at"][:19])
    assert event.data["starts_at"].startswith(iso(new_start)[:19])
    assert event.data["changes"] == ["times"] and event.data["sequence"] == 1
    # The same times again change nothing.
    assert catalogue.patch(url, {"starts_at": iso(new_start)}, lead).get_json()["sequence"] == 1
    assert len(catalogue.outbox("catalogue.session.rescheduled")) == 1


def test_capacity_and_venue_changes(catalogue: CatalogueApp) -> None:
    hub = catalogue.hub()
    session = catalogue.published_session(hub["id"])
    lead = catalogue.lead(hub["id"])
    url = f"/api/catalogue/sessions/{session['id']}"
    body = catalogue.patch(url, {"capacity": 5}, lead).get_json()
    assert body["capacity"] == 5 and body["sequence"] == 1
    body = catalogue.patch(url, {"venue": "Room 2, Lewes Library"}, lead).get_json()
    assert body["venue"] == "Room 2, Lewes Library" and body["sequence"] == 2
    events = catalogue.outbox("catalogue.session.rescheduled")
    assert [e.data["changes"] for e in events] == [["capacity"], ["venue"]]
    assert events[0].data["old_capacity"] == 20 and events[0].data["capacity"] == 5
    assert events[1].data["venue"] == "Room 2, Lewes Library"
    assert catalogue.patch(url, {}, lead).status_code == 422
    assert catalogue.patch(url, {"ends_at": "2020-01-01T00:00:00Z"}, lead).status_code == 422


def test_cancel_session_and_what_can_no_longer_change(catalogue: CatalogueApp) -> None:
    hub = catalogue.hub()
    session = catalogue.published_session(hub["id"])
    lead = catalogue.lead(hub["id"])
    url = f"/api/catalogue/sessions/{session['id']}"
    resp = catalogue.post(f"{url}/cancel", {"reason": "Venue flooded"}, lead)
    body = resp.get_json()
    assert resp.status_code == 200 and body["status"] == "cancelled"
    assert body["cancel_reason"] == "Venue flooded" and body["sequence"] == 1
    assert catalogue.get("/api/catalogue/sessions").get_json()["items"] == []
    assert catalogue.get(url).get_json()["status"] == "cancelled"  # still readable
    assert catalogue.post(f"{url}/cancel", {"reason": "again"}, lead).status_code == 409
    assert catalogue.patch(url, {"capacity": 3}, lead).status_code == 409
    (event,) = catalogue.outbox("catalogue.session.cancelled")
    assert event.data["reason"] == "Venue flooded" and event.data["event_cancelled"] is False


def test_started_sessions_cannot_change(catalogue: CatalogueApp) -> None:
    hub = catalogue.hub()
    session = catalogue.published_session(hub["id"])
    from services.catalogue.models import CatalogueSession

    with catalogue.db.transaction() as s:
        row = s.get(CatalogueSession, __import__("uuid").UUID(session["id"]))
        row.starts_at = datetime.now(UTC) - timedelta(minutes=5)
    lead = catalogue.lead(hub["id"])
    url = f"/api/catalogue/sessions/{session['id']}"
    assert catalogue.patch(url, {"capacity": 3}, lead).status_code == 409
    assert catalogue.post(f"{url}/cancel", {"reason": "late"}, lead).status_code == 409


def test_draft_session_changes_publish_nothing(catalogue: CatalogueApp) -> None:
    hub = catalogue.hub()
    event = catalogue.event(hub["id"])
    (session,) = catalogue.sessions(event)
    lead = catalogue.lead(hub["id"])
    url = f"/api/catalogue/sessions/{session['id']}"
    assert catalogue.patch(url, {"capacity": 4}, lead).status_code == 200
    assert catalogue.post(f"{url}/cancel", {"reason": "not needed"}, lead).status_code == 200
    assert catalogue.programme_changes() == []


@pytest.mark.parametrize(
    "path",
    [
        "/api/catalogue/sessions/not-a-uuid",
        "/api/catalogue/sessions/00000000-0000-0000-0000-000000000000",
        "/api/catalogue/events/zzz",
        "/api/catalogue/events/00000000-0000-4000-8000-000000000000",
        "/api/catalogue/events/00000000-0000-4000-8000-000000000000/history",
        "/calendar/hubs/nope.ics",
        "/calendar/hubs/00000000-0000-4000-8000-000000000000.ics",
    ],
)
def test_unknown_or_malformed_ids_are_404(catalogue: CatalogueApp, path: str) -> None:
    resp = catalogue.get(path, catalogue.admin())
    assert resp.status_code == 404
    assert resp.mimetype == "application/problem+json"


def test_concurrent_changes_get_distinct_sequences(catalogue: CatalogueApp) -> None:
    """The session row is locked while it changes: no two changes share a sequence."""
    from concurrent.futures import ThreadPoolExecutor

    hub = catalogue.hub()
    session = catalogue.published_session(hub["id"])
    lead = catalogue.lead(hub["id"])
    url = f"/api/catalogue/sessions/{session['id']}"

    def change(capacity: int) -> int:
        resp = catalogue.app.test_client().patch(url, json={"capacity": capacity}, headers=lead)
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()["sequence"]

    with ThreadPoolExecutor(max_workers=6) as pool:
        sequences = list(pool.map(change, range(31, 43)))
    assert sorted(sequences) == list(range(1, 13))
    published = [m.data["sequence"] for m in catalogue.outbox("catalogue.session.rescheduled")]
    assert published == list(range(1, 13))  # outbox order = commit order = sequence order
