"""Mentoring in real Chromium against the shared platform (issue 14): a practitioner asks
for a mentor, the hub lead runs matching and sees why the pair was proposed, the mentor
accepts on their caseload and arranges a meeting (in London time), and the practitioner
sees the mentor and the meeting.

The people and their hub are made through the API for this test alone (fast, and no
other journey's matching run can take the request or fill the mentor's places). axe
checks every page visited.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.platform import Platform
from tests.web.conftest import EMBEDDED, check_a11y, screenshot, sign_in

pytestmark = pytest.mark.e2e

ADMIN = ("admin@example.org", "admin-password")
PASSWORD = "web mentoring password"


def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, (resp.status_code, resp.text)
    return resp.json()


def _person(web: Platform, admin: str, role: str, hub_id: str, name: str) -> str:
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.org"
    body = {
        "email": email,
        "password": PASSWORD,
        "name": name,
        "roles": [role],
        "hub_ids": [hub_id],
        "setting_type": "childminder",
    }
    _ok(web.post("/api/auth/users", token=admin, json=body), 201)
    return email


def _switch(page: Any, email: str) -> None:
    """Sign out, then in as someone else (the sign-in page was checked by ``sign_in``)."""
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("link", name="Sign in").first.click()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


@EMBEDDED
def test_request_match_accept_and_meet(page: Any, web: Platform) -> None:
    suffix = uuid.uuid4().hex[:6]
    admin = web.login(*ADMIN)
    hub = _ok(
        web.post(
            "/api/catalogue/hubs",
            token=admin,
            json={"name": f"Web mentoring hub {suffix}", "region": "South West"},
        ),
        201,
    )["id"]
    lead = _person(web, admin, "hub_lead", hub, f"Lena Lead {suffix}")
    mentor = _person(web, admin, "mentor", hub, f"Maya Mentor {suffix}")
    mentee_name = f"Pia Practitioner {suffix}"
    mentee = _person(web, admin, "practitioner", hub, mentee_name)
    mentor_token = web.login(mentor, PASSWORD)
    profile = {
        "hub_id": hub,
        "specialisms": ["send", "psed"],
        "setting_types": ["childminder"],
        "formats": ["online", "in_person"],
        "region": "South West",
        "capacity": 2,
        "languages": ["English"],
        "available": True,
        "setting_name": "Harbour Nursery",
    }
    _ok(web.request("PUT", "/api/mentoring/mentors/me", token=mentor_token, json=profile))

    # The practitioner asks for a mentor through the form (a missing answer first).
    sign_in(page, mentee, PASSWORD)
    page.get_by_role("link", name="Mentoring").first.click()
    page.get_by_role("heading", name="Request a mentor").wait_for()
    check_a11y(page)
    page.get_by_label("Special educational needs and disabilities (SEND)").check()
    page.get_by_role("button", name="Send request").click()
    summary = page.locator(".govuk-error-summary")
    assert (
        summary.get_by_role("link", name="Enter what you would like to achieve").get_attribute(
            "href"
        )
        == "#goals"
    )
    check_a11y(page)
    page.get_by_label("Personal, social and emotional development").check()
    page.get_by_label("What would you like to achieve?").fill("Support two children with SEND.")
    page.get_by_label("Online", exact=True).check()
    page.get_by_label("Where do you work?").select_option("childminder")
    page.get_by_label("Name of your setting").fill(f"Pia's Childminding {suffix}")
    page.get_by_role("button", name="Send request").click()
    page.get_by_text("Your request is sent").wait_for()
    assert "Waiting for a match" in page.locator(".govuk-summary-card").inner_text()

    # The hub lead runs matching and sees why this pair.
    _switch(page, lead)
    page.get_by_role("link", name="Mentoring").first.click()
    page.get_by_role("heading", name="Open requests").wait_for()
    assert mentee_name in page.locator("#open-requests").inner_text()
    check_a11y(page)
    page.get_by_role("button", name="Run matching").click()
    pair = page.locator(".govuk-summary-card", has_text=f"{mentee_name} with Maya Mentor")
    pair.wait_for()
    why = pair.locator("table").inner_text()
    assert "Why this pair" in why and "Topics the mentor specialises in\t+20" in why
    assert "Knows this kind of setting\t+6" in why
    check_a11y(page)
    screenshot(page, "hub-mentoring")

    # The mentor accepts the proposal on their caseload and arranges a meeting.
    _switch(page, mentor)
    page.get_by_role("link", name="Caseload").click()
    proposal = page.locator(".govuk-summary-card", has_text=mentee_name)
    proposal.wait_for()
    assert "1 of 2" in page.locator("#load").inner_text()
    check_a11y(page)
    screenshot(page, "caseload")
    proposal.get_by_role("button", name=f"Accept mentoring {mentee_name}").click()
    page.get_by_text(f"You are now mentoring {mentee_name}.").wait_for()
    page.locator("#mentees").get_by_role("link", name=mentee_name).click()
    page.get_by_role("heading", name="Arrange a meeting").wait_for()
    check_a11y(page)
    page.get_by_role("button", name="Arrange meeting").click()
    assert page.locator("#day-error").is_visible() and page.locator("#time-error").is_visible()
    check_a11y(page)
    year = datetime.now(UTC).year + 1  # July: British Summer Time, UTC+1
    page.get_by_label("Day", exact=True).fill("14")
    page.get_by_label("Month", exact=True).fill("7")
    page.get_by_label("Year", exact=True).fill(str(year))
    page.get_by_label("Start time (UK time)").fill("2:30pm")
    page.get_by_label("How long").select_option("60")
    page.get_by_label("Online", exact=True).check()
    page.get_by_label("Joining link (online)").fill("https://meet.example.org/pia")
    page.get_by_role("button", name="Arrange meeting").click()
    page.get_by_text("The meeting is arranged").wait_for()
    day = datetime(year, 7, 14).strftime("%A")
    when = f"{day} 14 July {year}, 2:30pm to 3:30pm"
    assert when in page.locator("#meetings").inner_text()
    check_a11y(page)
    match_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    (meeting,) = _ok(web.get(f"/api/mentoring/matches/{match_id}/meetings", token=mentor_token))[
        "items"
    ]
    assert (meeting["starts_at"], meeting["ends_at"]) == (
        f"{year}-07-14T13:30:00Z",
        f"{year}-07-14T14:30:00Z",
    )

    # The practitioner sees their mentor and the meeting.
    _switch(page, mentee)
    page.goto("/mentoring")
    card = page.locator(".govuk-summary-card").first
    assert "Maya Mentor" in card.inner_text() and "Active" in card.inner_text()
    assert when in card.locator(".mentoring-meetings").inner_text()
    check_a11y(page)
