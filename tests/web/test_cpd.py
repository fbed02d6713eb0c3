"""A practitioner's CPD record in real Chromium against the shared platform: the hours
of a session the hub recorded them attending, its certificate (a PDF whose text is
read back), the record's CSV, and feedback on the session, given once (issue 14).

Set-up goes through the API (fast): a demo hub lead publishes a free session that
starts a few seconds later, a demo practitioner books it and, once it has started, the
lead records the attendance. axe checks every page visited.
"""

from __future__ import annotations

import csv
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from pypdf import PdfReader

from gateway.demo import DEMO_PASSWORD, LEADS, PRACTITIONERS
from shared.messaging.testing import wait_until as shared_wait_until
from tests.support.platform import Platform
from tests.web.conftest import EMBEDDED, check_a11y, screenshot, sign_in

pytestmark = pytest.mark.e2e

wait_until = partial(shared_wait_until, timeout=30.0, interval=0.1)
LEAD = f"{LEADS[0][1]}@example.org"
NAME, LOCAL = PRACTITIONERS[8][:2]  # Emma Kowalski: no other journey uses her
EMMA = f"{LOCAL}@example.org"
HOURS = 2.5


def _session_starting_soon(web: Platform, lead: str, title: str) -> str:
    """A published free session of the lead's hub that starts in a few seconds."""
    hub_id = web.get("/api/auth/me", token=lead).json()["hub_ids"][0]
    starts = (datetime.now(UTC) + timedelta(seconds=5)).replace(microsecond=0)
    event = web.post(
        "/api/catalogue/events",
        token=lead,
        json={
            "hub_id": hub_id,
            "title": title,
            "kind": "training",
            "format": "online",
            "online_url": "https://meet.example.org/cpd",
            "audience": ["nursery"],
            "topics": ["communication_language", "send"],
            "cpd_hours": HOURS,
            "price_pence": 0,
            "capacity": 5,
        },
    )
    assert event.status_code == 201, event.text
    event_id = event.json()["id"]
    made = web.post(
        f"/api/catalogue/events/{event_id}/sessions",
        token=lead,
        json={
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(),
        },
    )
    assert made.status_code == 201, made.text
    assert web.post(f"/api/catalogue/events/{event_id}/publish", token=lead).status_code == 200
    return str(made.json()["items"][0]["id"])


@EMBEDDED
def test_cpd_record_certificate_csv_and_feedback(page: Any, web: Platform) -> None:
    title = f"Talking with babies {secrets.token_hex(2)}"
    lead = web.login(LEAD, DEMO_PASSWORD)
    emma = web.login(EMMA, DEMO_PASSWORD)
    session_id = _session_starting_soon(web, lead, title)

    def booked() -> Any:
        resp = web.post("/api/bookings", token=emma, json={"session_id": session_id})
        return resp.json() if resp.status_code == 201 else None  # until the replica lands

    booking = wait_until(booked, what="the session to be bookable")
    assert booking["status"] == "confirmed"
    booking_id = booking["id"]

    sign_in(page, EMMA)  # while the session starts

    # Not attended yet: no certificate, and feedback is not open.
    resp = page.goto(f"/cpd-record/{booking_id}/certificate.pdf")
    assert resp.status == 404
    resp = page.goto(f"/my-bookings/{booking_id}/feedback")
    assert resp.status == 409 and page.locator("#feedback-not-attended").is_visible()
    check_a11y(page)

    def attended() -> bool:
        resp = web.post(
            f"/api/bookings/sessions/{session_id}/attendance",
            token=lead,
            json={"records": [{"booking_id": booking_id, "attended": True}]},
        )
        return resp.status_code == 200

    wait_until(attended, what="the session to start")

    # The record: the session with its hours, counted in the totals.
    page.get_by_role("link", name="CPD record", exact=True).click()
    page.get_by_role("heading", name="Your CPD record", level=1).wait_for()
    check_a11y(page)
    row = page.locator(f"#cpd-{booking_id}")
    assert title in row.inner_text() and row.locator("td").last.inner_text() == "2.5"
    for table in ("#by-academic-year", "#by-financial-year", "#by-topic"):
        assert page.locator(f"{table} caption").is_visible()
    assert "Special educational needs" in page.locator("#by-topic").inner_text()
    screenshot(page, "cpd-record")

    # The certificate: one A4 page naming the person, the session and its hours.
    with page.expect_download() as download:
        row.get_by_role("link", name="Download certificate (PDF)").click()
    assert download.value.suggested_filename.startswith("cpd-certificate-")
    pdf = PdfReader(download.value.path())
    assert len(pdf.pages) == 1
    width, height = pdf.pages[0].mediabox.width, pdf.pages[0].mediabox.height
    assert (round(float(width)), round(float(height))) == (595, 842)  # A4 in points
    text = " ".join(pdf.pages[0].extract_text().split())
    assert NAME in text and title in text and "2.5 hours" in text and booking_id in text

    # The CSV: the API's own, downloaded through the page with the user's token.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CPD record (CSV)").click()
    assert download.value.suggested_filename == "cpd-record.csv"
    with open(download.value.path(), encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    mine = next(r for r in rows if r["session_id"] == session_id)
    assert mine["title"] == title and mine["hours"] == "2.50"

    # Feedback: a rating is needed; then thanks on the record; a second go says it stands.
    row.get_by_role("link", name="Give feedback").click()
    page.get_by_role("heading", name=f"Feedback on {title}").wait_for()
    check_a11y(page)
    page.get_by_role("button", name="Send feedback").click()
    summary = page.locator(".govuk-error-summary")
    assert "Select how you would rate the session" in summary.inner_text()
    assert summary.get_by_role("link").get_attribute("href") == "#rating"
    check_a11y(page)
    screenshot(page, "cpd-feedback")
    page.get_by_label("Good", exact=True).check()
    page.get_by_label("Comments (optional)").fill("Lots of ideas for our baby room.")
    page.get_by_role("button", name="Send feedback").click()
    page.wait_for_url("**/cpd-record")
    assert (
        f"Thank you for your feedback on {title}"
        in page.locator(".govuk-notification-banner").inner_text()
    )
    check_a11y(page)
    done = page.locator(f"#cpd-{booking_id}")
    assert "Feedback given" in done.inner_text() and not done.get_by_text("Give feedback").count()

    page.goto(f"/my-bookings/{booking_id}/feedback")
    page.get_by_label("Very good").check()
    page.get_by_role("button", name="Send feedback").click()
    page.locator("#feedback-given").wait_for()
    assert (
        "You already gave feedback on this session" in page.locator("#feedback-given").inner_text()
    )
    check_a11y(page)

    # Someone else's booking (or none) has no certificate.
    assert page.goto(f"/cpd-record/{uuid.uuid4()}/certificate.pdf").status == 404
