"""A new practitioner registers, confirms the address from the mail, joins a full
session's waiting list and is promoted when a place frees: in real Chromium against the
shared platform, axe on each page (issue 14's first journey and its waiting list)."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from gateway.demo import DEMO_PASSWORD, LEADS, PRACTITIONERS
from shared.messaging.testing import wait_until as shared_wait_until
from tests.support.mailbox import mails_to
from tests.support.platform import Platform
from tests.web.conftest import EMBEDDED, check_a11y, screenshot, sign_in

pytestmark = pytest.mark.e2e

wait_until = partial(shared_wait_until, timeout=30.0, interval=0.1)
LEAD = f"{LEADS[0][1]}@example.org"
KIRSTY = f"{PRACTITIONERS[1][1]}@example.org"


def _full_session(web: Platform) -> tuple[str, str]:
    """A published one-place session of the demo lead's hub, booked by a demo
    practitioner: (session id, that booking's id)."""
    lead = web.login(LEAD, DEMO_PASSWORD)
    hub_id = web.get("/api/auth/me", token=lead).json()["hub_ids"][0]
    starts = (datetime.now(UTC) + timedelta(days=21)).replace(
        hour=9, minute=30, second=0, microsecond=0
    )
    event = web.post(
        "/api/catalogue/events",
        token=lead,
        json={
            "hub_id": hub_id,
            "title": f"Schema play workshop {secrets.token_hex(2)}",
            "kind": "training",
            "summary": "Spotting and supporting children's schemas in play.",
            "format": "in_person",
            "audience": ["childminder", "nursery"],
            "topics": ["play_and_learning"],
            "cpd_hours": 2,
            "price_pence": 0,
            "capacity": 1,
            "venue": "Hub room 2, 1 High Street, Lewes",
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
            "capacity": 1,
        },
    )
    assert made.status_code == 201, made.text
    assert web.post(f"/api/catalogue/events/{event_id}/publish", token=lead).status_code == 200
    session_id = made.json()["items"][0]["id"]
    kirsty = web.login(KIRSTY, DEMO_PASSWORD)

    def booked() -> Any:
        resp = web.post("/api/bookings", token=kirsty, json={"session_id": session_id})
        return resp.json() if resp.status_code == 201 else None  # until the replica lands

    booking = wait_until(booked, what="the session to be bookable")
    assert booking["status"] == "confirmed"
    return session_id, booking["id"]


@EMBEDDED
def test_register_confirm_wait_and_be_promoted(page: Any, web: Platform) -> None:
    email = f"zoe.{secrets.token_hex(3)}@example.org"
    session_id, kirstys = _full_session(web)

    page.goto("/register")
    check_a11y(page)
    page.get_by_label("Full name").fill("Zoë Ní Bhriain")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Create a password").fill("a long enough password")
    page.get_by_label("Childminder").check()
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    check_a11y(page)

    mail = wait_until(lambda: mails_to(web, email), what="the confirmation mail")[-1]
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    (link,) = re.findall(r"http\S+/confirm-email\?token=\S+", text)
    page.goto(link)
    page.get_by_role("heading", name="Email address confirmed").wait_for()
    check_a11y(page)
    page.goto(link[:-4] + "abcd")  # a spoilt link: a clear page, not a JSON error
    page.get_by_role("heading", name="This link has expired").wait_for()
    check_a11y(page)

    sign_in(page, email, "a long enough password")
    page.goto(f"/sessions/{session_id}")
    assert "None: the session is full" in page.locator(".govuk-summary-list").inner_text()
    page.get_by_role("button", name="Join the waiting list").click()
    page.wait_for_url("**/my-bookings")
    banner = page.locator(".govuk-notification-banner--success").inner_text()
    assert "You are on the waiting list" in banner and "(number 1)" in banner
    row = page.locator("tr", has=page.locator(f'a[href="/sessions/{session_id}"]'))
    assert "On the waiting list" in row.inner_text()
    check_a11y(page)

    # The booked practitioner cancels: the first on the list gets the place and a mail
    # with the calendar invite.
    kirsty = web.login(KIRSTY, DEMO_PASSWORD)
    assert web.post(f"/api/bookings/{kirstys}/cancel", token=kirsty, json={}).status_code == 200

    def invited() -> Any:
        return next(
            (m for m in mails_to(web, email) if any(m.iter_attachments()) or _has_ics(m)), None
        )

    mail = wait_until(invited, what="the promotion mail with its invite")
    assert "Schema play workshop" in str(mail["Subject"]) + mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    page.reload()
    row = page.locator("#upcoming tr", has=page.locator(f'a[href="/sessions/{session_id}"]'))
    assert "Booked" in row.inner_text()
    screenshot(page, "waiting-list-promoted")


def _has_ics(message: Any) -> bool:
    return any(part.get_content_type() == "text/calendar" for part in message.walk())
