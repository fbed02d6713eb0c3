"""A hub lead's programme and a session's roster in real Chromium against the shared
platform (issue 14).

The lead creates a weekly series across the clocks going forward (28 March 2027): every
session shows 6:30pm UK time on the page, while the API's UTC instants move from 18:30Z
(GMT) to 17:30Z (BST). Then they publish it, record attendance on a session that has
started (set up through the API, fast: a session that starts a few seconds after the
test does, booked by a demo practitioner) and download its roster as CSV. axe checks
every page visited.
"""

from __future__ import annotations

import csv
import re
import secrets
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from gateway.demo import DEMO_PASSWORD, LEADS, PRACTITIONERS
from shared.messaging.testing import wait_until as shared_wait_until
from tests.support.platform import Platform
from tests.web.conftest import EMBEDDED, check_a11y, screenshot, sign_in

pytestmark = pytest.mark.e2e

wait_until = partial(shared_wait_until, timeout=30.0, interval=0.1)
LEAD = f"{LEADS[0][1]}@example.org"
NAME, LOCAL = PRACTITIONERS[6][:2]  # Lucy Adeyemi: no other journey uses her
LUCY = f"{LOCAL}@example.org"


def _utc(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _session_starting_soon(web: Platform, lead: str, hub_id: str) -> tuple[str, datetime]:
    """A published free session of the lead's hub that starts a few seconds from now."""
    starts = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
    event = web.post(
        "/api/catalogue/events",
        token=lead,
        json={
            "hub_id": hub_id,
            "title": f"Rhyme time roster {secrets.token_hex(2)}",
            "kind": "network_meeting",
            "format": "online",
            "online_url": "https://meet.example.org/rhymes",
            "audience": ["other", "childminder"],
            "cpd_hours": 1,
            "capacity": 8,
        },
    )
    assert event.status_code == 201, event.text
    event_id = event.json()["id"]
    made = web.post(
        f"/api/catalogue/events/{event_id}/sessions",
        token=lead,
        json={
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=1)).isoformat(),
        },
    )
    assert made.status_code == 201, made.text
    assert web.post(f"/api/catalogue/events/{event_id}/publish", token=lead).status_code == 200
    return str(made.json()["items"][0]["id"]), starts


@EMBEDDED
def test_series_across_the_clock_change_publish_attendance_and_roster_csv(
    page: Any, web: Platform
) -> None:
    lead = web.login(LEAD, DEMO_PASSWORD)
    lucy = web.login(LUCY, DEMO_PASSWORD)
    hub_id = web.get("/api/auth/me", token=lead).json()["hub_ids"][0]
    session_id, starts = _session_starting_soon(web, lead, hub_id)

    def booked() -> Any:
        resp = web.post("/api/bookings", token=lucy, json={"session_id": session_id})
        return resp.json() if resp.status_code == 201 else None  # until the replica lands

    booking = wait_until(booked, what="the session to be bookable")
    assert booking["status"] == "confirmed"

    sign_in(page, LEAD)
    page.get_by_role("link", name="Programme", exact=True).click()
    page.get_by_role("heading", name="Programme", level=1).wait_for()
    check_a11y(page)

    # Another hub's programme is not hers: the permission page.
    hubs = web.get("/api/catalogue/hubs").json()["items"]
    other = next(h["id"] for h in hubs if h["id"] != hub_id)
    assert page.goto(f"/hubs/{other}/programme").status == 403
    check_a11y(page)
    page.go_back()

    # The form: an empty submit shows the GOV.UK errors, linked to their fields.
    page.get_by_role("button", name="Create an event").click()
    page.get_by_role("heading", name="Create an event").wait_for()
    check_a11y(page)
    page.get_by_role("button", name="Save as draft").click()
    summary = page.locator(".govuk-error-summary")
    summary.get_by_role("link", name="Enter a title").wait_for()
    assert page.title().startswith("Error:")
    check_a11y(page)

    title = f"Early maths evenings {secrets.token_hex(2)}"
    page.get_by_label("Title").fill(title)
    page.get_by_label("Kind of event").select_option("training")
    page.get_by_label("Mathematics").check()
    page.get_by_label("Childminder").check()
    page.get_by_label("Nursery", exact=True).check()
    page.get_by_label("Online", exact=True).check()
    page.get_by_label("Joining link").fill("https://meet.example.org/maths")
    page.get_by_label("CPD hours per session").fill("1.5")
    page.get_by_label("Places per session").fill("12")
    page.get_by_label("Price per place").fill("10")
    first = page.get_by_role("group", name="Date of the first session")
    first.get_by_label("Day").fill("23")
    first.get_by_label("Month").fill("3")
    first.get_by_label("Year").fill("2027")
    page.get_by_label("Start time").fill("18:30")
    page.get_by_label("End time").fill("8pm")
    page.get_by_label("Every week").check()
    page.get_by_label("Number of sessions").fill("3")
    form = page.locator("form", has=page.get_by_role("button", name="Save as draft"))
    sent = form.evaluate("f => new URLSearchParams(new FormData(f)).toString()")
    page.get_by_role("button", name="Save as draft").click()
    page.wait_for_url("**/programme#event-*")
    event_id = page.url.rsplit("#event-", 1)[1]
    # The same form sent again (a double click, Back and submit): the event is not made twice.
    again = page.request.post(
        f"/hubs/{hub_id}/events/new",
        data=sent,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert again.ok and again.url.endswith(f"/hubs/{hub_id}/programme#event-{event_id}")
    mine = web.get(
        "/api/catalogue/events", params={"hub_id": hub_id, "order": "newest"}, token=lead
    ).json()["items"]
    assert [e["id"] for e in mine if e["title"] == title] == [event_id]
    section = page.locator(f"#event-{event_id}")
    section.get_by_text("Draft", exact=True).wait_for()
    check_a11y(page)

    # Every session at 6:30pm UK time, either side of the clocks going forward...
    rows = section.locator("tbody tr")
    assert rows.count() == 3
    days = ["Tuesday 23 March 2027", "Tuesday 30 March 2027", "Tuesday 6 April 2027"]
    for row, day in zip(rows.all(), days, strict=True):
        assert f"{day}, 6:30pm to 8pm" in row.inner_text()
    # ...which in UTC is an hour earlier after the change (GMT, then BST).
    event = web.get(f"/api/catalogue/events/{event_id}", token=lead).json()
    instants = [_utc(s["starts_at"]) for s in event["sessions"]]
    assert instants[0] == datetime(2027, 3, 23, 18, 30, tzinfo=UTC)
    assert instants[1] == datetime(2027, 3, 30, 17, 30, tzinfo=UTC)
    assert instants[1] - instants[0] == timedelta(days=7, hours=-1)
    assert instants[2] - instants[1] == timedelta(days=7)
    assert event["price_pence"] == 1000 and event["status"] == "draft"
    screenshot(page, "programme")

    section.get_by_role("button", name=f"Publish {title}").click()
    page.get_by_text(f"{title} is published").wait_for()
    assert section.get_by_text("Published", exact=True).is_visible()
    check_a11y(page)

    # Reschedule the last session an hour later with fewer places; cancel the middle one.
    rows.nth(2).get_by_role("link", name="Change").click()
    page.get_by_role("heading", name="Change a session").wait_for()
    check_a11y(page)
    page.get_by_label("Start time").fill("19:30")
    page.get_by_label("End time").fill("21:00")
    page.get_by_label("Places").fill("10")
    page.get_by_role("button", name="Save changes").click()
    page.get_by_text("The session is changed.").wait_for()
    assert "6 April 2027, 7:30pm to 9pm" in rows.nth(2).inner_text()
    # (places taken show once bookings has the session: it may not have it yet)
    assert re.fullmatch(r"0 of 10|10 places", rows.nth(2).locator("td").nth(1).inner_text())
    rows.nth(1).get_by_role("link", name="Change").click()
    page.get_by_label("Why is it cancelled?").fill("The hall is closed for Easter.")
    page.get_by_role("button", name="Cancel the session").click()
    page.get_by_text("The session is cancelled.").wait_for()
    assert "The hall is closed for Easter." in rows.nth(1).inner_text()

    # Cancel the whole event (it leaves the listings other journeys search).
    section.get_by_role("link", name=f"Cancel event {title}").click()
    page.get_by_role("heading", name="Cancel the event").wait_for()
    check_a11y(page)
    page.get_by_label("Why is it cancelled?").fill("Moved to the summer term.")
    page.get_by_role("button", name="Cancel the event").click()
    page.get_by_text(f"{title} is cancelled.").wait_for()
    assert section.get_by_text("Cancelled: Moved to the summer term.").is_visible()

    # The programme shows each session's places taken (one call for the hub's figures).
    assert "1 of 8" in page.locator(f"#session-{session_id}").inner_text()

    # The roster of the session that has started: mark Lucy as come, in one submit.
    wait_until(lambda: datetime.now(UTC) >= starts, what="the session to start")
    page.goto(f"/hubs/{hub_id}/sessions/{session_id}/roster")
    page.get_by_role("heading", name="Roster", level=1).wait_for()
    check_a11y(page)
    page.get_by_label(NAME).check()
    page.get_by_role("button", name="Save attendance").click()
    page.get_by_text("Attendance is saved: 1 of 1 came.").wait_for()
    assert "Attended" in page.locator(f"#booking-{booking['id']}").inner_text()
    check_a11y(page)
    screenshot(page, "roster")

    # The CSV: the API's own, downloaded through the page with the lead's token.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download roster (CSV)").click()
    assert download.value.suggested_filename == f"roster-{session_id}.csv"
    with open(download.value.path(), encoding="utf-8-sig") as f:
        rows_csv = list(csv.DictReader(f))
    mine = next(r for r in rows_csv if r["booking_id"] == booking["id"])
    assert mine["name"] == NAME and mine["status"] == "attended"
