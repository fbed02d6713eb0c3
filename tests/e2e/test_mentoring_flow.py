"""Mentoring end to end through the gateway, on the real processes: a mentor's profile, a
practitioner's request, a hub lead's matching run, acceptance, a meeting whose invite
ical.js reads, the mentor's log, the caseload and its calendar feed (issue 11)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from shared.messaging.testing import wait_until
from tests.support.icaljs import parse_with_icaljs
from tests.support.mailbox import mails_to
from tests.support.platform import Platform

ADMIN = ("admin@example.org", "admin-password")
PASSWORD = "e2e mentoring password"


def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, (resp.status_code, resp.text)
    return resp.json()


def _person(platform: Platform, role: str, hub_id: str, name: str) -> tuple[str, str]:
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.org"
    body = {
        "email": email,
        "password": PASSWORD,
        "name": name,
        "roles": [role],
        "hub_ids": [hub_id],
        "setting_type": "childminder",
    }
    _ok(platform.post("/api/auth/users", token=platform.login(*ADMIN), json=body), 201)
    return email, platform.login(email, PASSWORD)


def _invites(platform: Platform, email: str) -> list[tuple[EmailMessage, bytes]]:
    found = []
    for mail in mails_to(platform, email):
        for part in mail.walk():
            if part.get_content_type() == "text/calendar":
                found.append((mail, part.get_payload(decode=True)))
    return found


def test_mentor_profile_to_meeting_log_and_caseload_feed(platform: Platform) -> None:
    admin = platform.login(*ADMIN)
    hub = _ok(
        platform.post(
            "/api/catalogue/hubs",
            token=admin,
            json={"name": f"Mentoring hub {uuid.uuid4().hex[:6]}", "region": "South West"},
        ),
        201,
    )["id"]
    _lead_email, lead = _person(platform, "hub_lead", hub, "Lena Lead")
    mentor_email, mentor = _person(platform, "mentor", hub, "Maya Mentor")
    mentee_email, mentee = _person(platform, "practitioner", hub, "Pia Practitioner")

    profile = {
        "hub_id": hub,
        "specialisms": ["send", "psed"],
        "setting_types": ["childminder"],
        "formats": ["online"],
        "region": "South West",
        "capacity": 2,
        "languages": ["English"],
        "bio": "SENCo for ten years.",
        "available": True,
        "setting_name": "Harbour Nursery",
    }
    _ok(platform.request("PUT", "/api/mentoring/mentors/me", token=mentor, json=profile))
    request = {
        "hub_id": hub,
        "topics": ["send"],
        "goals": "Support two children with SEND.",
        "format": "online",
        "setting_type": "childminder",
        "setting_name": "Pia's Childminding",
    }
    request_id = _ok(platform.post("/api/mentoring/requests", token=mentee, json=request), 201)[
        "id"
    ]

    run = _ok(platform.post(f"/api/mentoring/hubs/{hub}/matching-runs", token=lead), 201)
    (match,) = run["matches"]
    assert (match["request_id"], match["status"], run["unmatched"]) == (request_id, "proposed", [])
    assert match["breakdown"]["topics"] > 0 and match["score"] == sum(match["breakdown"].values())
    accepted = platform.post(f"/api/mentoring/matches/{match['id']}/accept", token=mentor)
    assert _ok(accepted)["status"] == "active"

    # A meeting that has just happened: invites to both, which ical.js reads.
    starts = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    meeting = _ok(
        platform.post(
            f"/api/mentoring/matches/{match['id']}/meetings",
            token=mentee,
            json={
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=1)).isoformat(),
                "format": "online",
                "online_url": "https://meet.example.org/mentoring",
            },
        ),
        201,
    )
    for email in (mentor_email, mentee_email):
        assert wait_until(lambda e=email: _invites(platform, e), timeout=30), email
        (_mail, ics), *_ = _invites(platform, email)
        cal = parse_with_icaljs(ics)
        assert cal["method"] == "REQUEST"
        (event,) = cal["events"]
        assert event["start"].startswith(starts.strftime("%Y-%m-%dT%H:%M"))
        assert event["uid"].startswith(f"meeting-{meeting['id']}@")

    logged = platform.post(
        f"/api/mentoring/meetings/{meeting['id']}/log",
        token=mentor,
        json={"minutes": 55, "notes": "Talked about EHCPs.", "next_steps": "Visit in May."},
    )
    _ok(logged)
    caseload = _ok(platform.get("/api/mentoring/caseload", token=mentor))
    (item,) = caseload["items"]
    assert (item["meetings_held"], item["minutes_logged"]) == (1, 55)
    # The hub lead sees the minutes, never the notes.
    seen = _ok(platform.get(f"/api/mentoring/matches/{match['id']}/meetings", token=lead))
    assert seen["minutes_logged"] == 55
    assert all(not m.get("notes") for m in seen["items"])

    feed = _ok(platform.post("/api/mentoring/calendar-feeds", token=mentor), 201)
    ics = platform.get(feed["url"].removeprefix(platform.url))
    assert ics.status_code == 200 and ics.headers["Content-Type"].startswith("text/calendar")
    cal = parse_with_icaljs(ics.content)
    assert cal["method"] == "PUBLISH"
    assert [e["uid"] for e in cal["events"]] == [event["uid"]]
    assert "EHCP" not in ics.text  # notes stay between the pair
