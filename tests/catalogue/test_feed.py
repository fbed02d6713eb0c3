"""The public hub calendar, read by ical.js (Thunderbird's parser)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.catalogue.models import CatalogueSession
from services.catalogue.recurrence import LONDON
from tests.catalogue.conftest import CatalogueApp, future
from tests.support.icaljs import parse_with_icaljs


def _london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def test_feed_instants_on_both_sides_of_both_changes(catalogue: CatalogueApp) -> None:
    hub = catalogue.hub("East Sussex Early Years Hub")
    event = catalogue.event(hub["id"], kind="network_meeting", title="Network meeting")
    spring = catalogue.sessions(
        event,
        starts_at=_london(2027, 3, 23, 18, 0),
        ends_at=_london(2027, 3, 23, 20, 0),
        rrule="FREQ=WEEKLY;COUNT=2",
    )
    autumn = catalogue.sessions(
        event,
        starts_at=_london(2027, 10, 26, 18, 0),
        ends_at=_london(2027, 10, 26, 20, 0),
        rrule="FREQ=WEEKLY;COUNT=2",
    )
    draft = catalogue.event(hub["id"], title="Unpublished idea")
    catalogue.sessions(draft)
    catalogue.publish(event)

    resp = catalogue.get(f"/calendar/hubs/{hub['id']}.ics")
    assert resp.status_code == 200
    assert resp.mimetype == "text/calendar"
    cal = parse_with_icaljs(resp.data)
    assert cal["method"] == "PUBLISH"
    assert cal["calname"] == "East Sussex Early Years Hub"
    assert [
        (o["rrule"] is not None, o["rdate_count"]) for o in cal["timezones"][0]["observances"]
    ] == [
        (True, 0),
        (True, 0),
    ]
    by_uid = {e["uid"]: e for e in cal["events"]}
    assert set(by_uid) == {f"session-{s['id']}@127.0.0.1" for s in spring + autumn}
    starts = [by_uid[f"session-{s['id']}@127.0.0.1"] for s in spring + autumn]
    assert [e["start"] for e in starts] == [
        "2027-03-23T18:00:00Z",  # GMT
        "2027-03-30T17:00:00Z",  # BST
        "2027-10-26T17:00:00Z",  # BST
        "2027-11-02T18:00:00Z",  # GMT
    ]
    assert [e["end"] for e in starts] == [
        "2027-03-23T20:00:00Z",
        "2027-03-30T19:00:00Z",
        "2027-10-26T19:00:00Z",
        "2027-11-02T20:00:00Z",
    ]
    assert {e["dtstart"]["zone"] for e in starts} == {"Europe/London"}
    assert {e["dtstart"]["local"][11:16] for e in starts} == {"18:00"}
    assert {e["status"] for e in starts} == {"CONFIRMED"}
    assert {e["sequence"] for e in starts} == {0}


def test_cancelled_sessions_stay_cancelled_until_they_pass(catalogue: CatalogueApp) -> None:
    hub = catalogue.hub()
    event = catalogue.event(hub["id"])
    keep, drop = catalogue.sessions(event, rrule="FREQ=WEEKLY;COUNT=2")
    catalogue.publish(event)
    lead = catalogue.lead(hub["id"])
    resp = catalogue.post(
        f"/api/catalogue/sessions/{drop['id']}/cancel", {"reason": "Trainer unwell"}, lead
    )
    assert resp.status_code == 200
    listed = catalogue.get("/api/catalogue/sessions").get_json()["items"]
    assert [i["id"] for i in listed] == [keep["id"]]
    cal = parse_with_icaljs(catalogue.get(f"/calendar/hubs/{hub['id']}.ics").data)
    by_uid = {e["uid"].split("@")[0]: e for e in cal["events"]}
    assert by_uid[f"session-{drop['id']}"]["status"] == "CANCELLED"
    assert by_uid[f"session-{drop['id']}"]["sequence"] == 1
    assert "Trainer unwell" in by_uid[f"session-{drop['id']}"]["description"]
    assert by_uid[f"session-{keep['id']}"]["status"] == "CONFIRMED"
    # Once the cancelled session's time has passed it leaves the feed; a past session
    # that happened stays (90 days back) so calendars keep the history.
    with catalogue.db.transaction() as s:
        for sid, days in ((drop["id"], 3), (keep["id"], 30)):
            row = s.get(CatalogueSession, uuid.UUID(sid))
            row.starts_at = datetime.now(UTC) - timedelta(days=days)
            row.ends_at = row.starts_at + timedelta(hours=1)
    cal = parse_with_icaljs(catalogue.get(f"/calendar/hubs/{hub['id']}.ics").data)
    assert [e["uid"].split("@")[0] for e in cal["events"]] == [f"session-{keep['id']}"]
    with catalogue.db.transaction() as s:
        row = s.get(CatalogueSession, uuid.UUID(keep["id"]))
        row.starts_at = datetime.now(UTC) - timedelta(days=91)
        row.ends_at = row.starts_at + timedelta(hours=1)
    assert parse_with_icaljs(catalogue.get(f"/calendar/hubs/{hub['id']}.ics").data)["events"] == []


def test_feed_bytes_are_stable_and_revalidate(catalogue: CatalogueApp) -> None:
    hub = catalogue.hub()
    session = catalogue.published_session(hub["id"])
    url = f"/calendar/hubs/{hub['id']}.ics"
    first, second = catalogue.get(url), catalogue.get(url)
    assert first.data == second.data
    etag = first.headers["ETag"]
    assert etag == second.headers["ETag"] and not etag.startswith("W/")
    assert first.headers["Last-Modified"]
    assert "private" in first.headers["Cache-Control"]
    assert catalogue.get(url, {"If-None-Match": etag}).status_code == 304
    assert (
        catalogue.get(url, {"If-Modified-Since": first.headers["Last-Modified"]}).status_code == 304
    )
    resp = catalogue.patch(
        f"/api/catalogue/sessions/{session['id']}",
        {"starts_at": future(days=21).isoformat()},
        catalogue.lead(hub["id"]),
    )
    assert resp.status_code == 200
    changed = catalogue.get(url, {"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    (item,) = parse_with_icaljs(changed.data)["events"]
    assert item["sequence"] == 1
    # An event edit (the place) shows in the feed too.
    lead = catalogue.lead(hub["id"])
    catalogue.patch(f"/api/catalogue/events/{session['event_id']}", {"venue": "The Barn"}, lead)
    (item,) = parse_with_icaljs(catalogue.get(url).data)["events"]
    assert item["location"] == "The Barn"


def test_empty_feed_is_a_valid_calendar(catalogue: CatalogueApp) -> None:
    hub = catalogue.hub("Tees Valley Stronger Practice Hub")
    resp = catalogue.get(f"/calendar/hubs/{hub['id']}.ics")
    cal = parse_with_icaljs(resp.data)
    assert cal["events"] == [] and cal["calname"] == "Tees Valley Stronger Practice Hub"
