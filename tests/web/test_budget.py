"""The hub lead's budget pages and the admin pages in real Chromium (issue 14).

Helen (a demo hub lead) reads a line's committed money on her budget dashboard; a
funded place is then requested through the API (the saga runs over the bus) and, on
reload, the line's committed figure and the burn chart's data table have grown by the
session's cost per funded place. The reconciliation page renders and its CSV downloads.
Then the admin lists users and adds one with a role and a hub. axe on every page.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.demo import DEMO_PASSWORD, PRACTITIONERS
from gateway.web.formatting import LONDON
from shared.messaging.testing import wait_until
from tests.support.platform import Platform
from tests.web.conftest import EMBEDDED, check_a11y, screenshot, sign_in

pytestmark = pytest.mark.e2e

HELEN = "helen.whitfield@example.org"
ADMIN = ("admin@example.org", "admin-password")


def _pence(text: str) -> int:
    """'£1,234.50' → 123450 (the pages' own money format)."""
    match = re.search(r"(-?)£([\d,]+)(?:\.(\d\d))?", text)
    assert match, text
    sign = -1 if match.group(1) else 1
    return sign * (int(match.group(2).replace(",", "")) * 100 + int(match.group(3) or 0))


def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, (resp.status_code, resp.text)
    return resp.json()


def _answered(web: Platform, token: str, booking_id: str) -> dict[str, Any]:
    """The booking once budget has answered its funding request (over the bus)."""

    def settled() -> dict[str, Any] | None:
        booking = _ok(web.get(f"/api/bookings/{booking_id}", token=token))
        return booking if booking["status"] in ("confirmed", "funding_declined") else None

    return wait_until(settled, timeout=20, what="the budget to answer the funding request")


def _fund_a_place(web: Platform, lead: str, hub_id: str) -> dict[str, Any]:
    """A demo practitioner's funded place on one of the hub's sessions, confirmed and
    funded; the session it is on. Other tests share the demo data: the first session
    with funded places and practitioner that the saga funds is used."""
    sessions = _ok(web.get(f"/api/catalogue/sessions?hub_id={hub_id}&limit=100", token=lead))
    funded = [
        s
        for s in sessions["items"]
        if s["funded_places"] > 0 and s["cost_per_funded_place_pence"] > 0
    ]
    assert funded, "the demo hub has no session with funded places"
    for session in funded:
        eligible = set(session["funded_setting_types"] or session["audience"])
        for _name, local, setting, _where in PRACTITIONERS:
            if setting not in eligible:
                continue
            token = web.login(f"{local}@example.org", DEMO_PASSWORD)
            resp = web.post(
                "/api/bookings",
                token=token,
                json={"session_id": session["id"], "request_funding": True},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            if resp.status_code != 201 or resp.json()["status"] != "pending_funding":
                continue  # already booked by this login, or full
            booking_id = resp.json()["id"]
            done = _answered(web, token, booking_id)
            if done["status"] == "confirmed":
                assert done["funding"] == "funded"
                return session
            break  # declined (no funded places left): the next session
    pytest.fail("no funded place could be had on the demo hub's sessions")


@EMBEDDED
def test_hub_lead_budget_reconciliation_and_admin(page: Any, web: Platform) -> None:
    lead = web.login(HELEN, DEMO_PASSWORD)
    hub_id = _ok(web.get("/api/auth/me", token=lead))["hub_ids"][0]
    month = datetime.now(UTC).astimezone(LONDON).strftime("%Y-%m")

    sign_in(page, HELEN)
    page.get_by_role("link", name="Budget").first.click()
    page.wait_for_url(f"**/hubs/{hub_id}/budget")
    page.get_by_role("heading", name="Budget", level=1).wait_for()
    check_a11y(page)
    chart = page.locator("svg[role=img]")
    assert chart.locator("title").text_content().startswith("Money committed and spent")
    assert chart.get_attribute("aria-labelledby") == "burn-title burn-desc"
    year = page.get_by_label("Financial year").input_value()
    assert re.fullmatch(r"\d{4}-\d\d", year)
    committed = {
        line: _pence(page.locator(f"#committed-{line}").inner_text())
        for line in ("training_delivery", "backfill", "mentoring", "venue", "resources", "other")
    }
    used = _pence(page.locator(f"#used-{month}").text_content())  # in the closed details

    # A funded place, through the API; the line it is charged to grows by its cost.
    session = _fund_a_place(web, lead, hub_id)
    line, cost = session["funding_line"], session["cost_per_funded_place_pence"]
    page.reload()
    check_a11y(page)
    screenshot(page, "budget")
    assert _pence(page.locator(f"#committed-{line}").inner_text()) == committed[line] + cost
    assert _pence(page.locator(f"#used-{month}").text_content()) == used + cost
    page.get_by_text("Show the chart's data as a table").click()
    assert page.locator(f"#used-{month}").is_visible()

    # The transfers CSV comes through the page, with the user's rights.
    csv_link = page.get_by_role("link", name=re.compile("Download transfers"))
    with page.expect_download() as download:
        csv_link.click()
    assert download.value.suggested_filename.endswith(".csv")

    # Recording spend: a missing description is an error on its field.
    page.locator("#spend_line").select_option("resources")
    page.locator("#spend_amount").fill("12.50")
    page.get_by_role("button", name="Record spend").click()
    summary = page.locator(".govuk-error-summary")
    assert "Enter what the money was spent on" in summary.inner_text()
    check_a11y(page)

    page.get_by_role("link", name="Reconcile card payments").click()
    page.get_by_role("heading", name="Reconcile card payments").wait_for()
    check_a11y(page)
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile(r"Download the reconciliation")).click()
    assert download.value.suggested_filename.startswith("reconciliation-")

    # The admin: users listed, one added with a role and a hub, then found in the list.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, *ADMIN)
    page.get_by_role("link", name="Admin").first.click()
    page.get_by_role("heading", name="Admin", level=1).wait_for()
    assert page.locator("#user-list tbody tr").count() > 0
    check_a11y(page)
    screenshot(page, "admin")
    hub_name = _ok(web.get(f"/api/catalogue/hubs/{hub_id}"))["name"]
    page.get_by_role("button", name="Add a user").click()
    page.get_by_role("button", name="Add user").click()
    assert "Select at least one role" in page.locator(".govuk-error-summary").inner_text()
    check_a11y(page)
    email = f"web-admin-{uuid.uuid4().hex[:8]}@example.org"
    page.get_by_label("Full name").fill("Alex Admin-Made")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill("a long enough password")
    page.get_by_label("Practitioner").check()
    page.get_by_label(hub_name).check()
    page.get_by_role("button", name="Add user").click()
    page.wait_for_url(re.compile(r"/admin\?q="))
    row = page.locator("#user-list tr", has_text=email)
    assert "Practitioner" in row.inner_text() and hub_name in row.inner_text()
    check_a11y(page)
