"""The caseload calendar: feed tokens (long, stored hashed, revocable), what the feed
shows (the invites' UIDs and SEQUENCEs), byte-stable bodies, 304s, deactivated owners."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from icalendar import Calendar
from sqlalchemy import select

from services.mentoring.meeting_models import CaseloadFeed
from shared.identity import apply_state, state_event
from tests.mentoring.conftest import OTHER_HUB, MentoringApp, Person
from tests.mentoring.test_meetings import active_match, schedule, soon

FEEDS = "/api/mentoring/calendar-feeds"


def new_feed(mentoring: MentoringApp, who: Person) -> tuple[dict[str, Any], str]:
    """The created feed and its path on this service (``/calendar/mentoring/<token>.ics``)."""
    resp = mentoring.client.post(FEEDS, headers=who.headers)
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    prefix = mentoring.settings.public_url
    assert body["url"].startswith(f"{prefix}/calendar/mentoring/")
    return body, body["url"][len(prefix) :]


def events_of(body: bytes) -> tuple[str, dict[str, Any]]:
    cal = Calendar.from_ical(body)
    return str(cal["METHOD"]), {str(e["UID"]): e for e in cal.walk("VEVENT")}


def account(mentoring: MentoringApp, user_id: str, **state: Any) -> None:
    """What the identity replica learns from the gateway's identity.* events."""
    values: dict[str, Any] = {
        "user_id": user_id,
        "is_active": True,
        "roles": ["mentor"],
        "hub_ids": [],
        "tokens_valid_after": None,
        "changed_at": datetime.now(UTC),
        **state,
    }
    with mentoring.db.transaction() as s:
        apply_state(s, state_event(**values))


def test_feed_tokens_are_long_and_stored_only_hashed(mentoring: MentoringApp) -> None:
    mentor, mentee, _lead, _match_id = active_match(mentoring)
    body, path = new_feed(mentoring, mentor)
    secret = path.removeprefix("/calendar/mentoring/").removesuffix(".ics")
    assert len(secret) >= 22  # at least 128 bits in base64url (ours: 256)
    with mentoring.db.read() as s:
        stored = s.scalars(select(CaseloadFeed)).one()
    assert str(stored.id) == body["id"] and stored.user_id == mentor.user_id
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(stored.__dict__)
    listed = mentoring.client.get(FEEDS, headers=mentor.headers).get_json()
    assert [f["id"] for f in listed["items"]] == [body["id"]]
    assert "url" not in listed["items"][0]
    # The mentee has a caseload too; someone without a match has none.
    assert mentoring.client.post(FEEDS, headers=mentee.headers).status_code == 201
    assert mentoring.client.post(FEEDS, headers=mentoring.practitioner().headers).status_code == 409
    assert mentoring.client.post(FEEDS, headers=mentoring.lead().headers).status_code == 403
    assert mentoring.client.post(FEEDS).status_code == 401
    assert mentoring.client.get(FEEDS, headers=mentoring.practitioner().headers).get_json() == {
        "items": []
    }


def test_the_feed_shows_both_peoples_meetings_as_their_invites(mentoring: MentoringApp) -> None:
    mentor, mentee, _lead, match_id = active_match(mentoring)
    kept = schedule(mentoring, mentor, match_id).get_json()
    starts, ends = soon(days=4)
    dropped = schedule(mentoring, mentee, match_id, starts_at=starts, ends_at=ends).get_json()
    moved = mentoring.client.patch(
        f"/api/mentoring/meetings/{kept['id']}",
        json={"format": "in_person", "location": "Hub room 2"},
        headers=mentee.headers,
    )
    assert moved.status_code == 200
    mentoring.client.post(f"/api/mentoring/meetings/{dropped['id']}/cancel", headers=mentor.headers)
    # Someone else's meeting never shows.
    other_mentor, _other_mentee, _l, other_match = active_match(mentoring, OTHER_HUB)
    schedule(mentoring, other_mentor, other_match)

    host = mentoring.settings.public_host
    for person, title in ((mentor, "Mentoring: Amira Hussain"), (mentee, "Mentoring with")):
        _body, path = new_feed(mentoring, person)
        resp = mentoring.client.get(path)
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("text/calendar")
        assert "private" in resp.headers["Cache-Control"]
        method, found = events_of(resp.data)
        assert method == "PUBLISH"
        assert set(found) == {f"meeting-{m['id']}@{host}" for m in (kept, dropped)}
        live = found[f"meeting-{kept['id']}@{host}"]
        assert str(live["STATUS"]) == "CONFIRMED" and int(live["SEQUENCE"]) == 1
        assert str(live["SUMMARY"]).startswith(title) and str(live["LOCATION"]) == "Hub room 2"
        gone = found[f"meeting-{dropped['id']}@{host}"]
        assert str(gone["STATUS"]) == "CANCELLED" and int(gone["SEQUENCE"]) == 1
        assert str(gone["SUMMARY"]).startswith("Cancelled: ")
        assert b"X-WR-CALNAME:eyhub: mentoring" in resp.data


def test_unchanged_feeds_are_byte_stable_and_answered_304(mentoring: MentoringApp) -> None:
    mentor, mentee, _lead, match_id = active_match(mentoring)
    meeting = schedule(mentoring, mentor, match_id).get_json()
    _body, path = new_feed(mentoring, mentee)
    first = mentoring.client.get(path)
    again = mentoring.client.get(path)
    assert first.status_code == again.status_code == 200
    assert (again.headers["ETag"], again.data) == (first.headers["ETag"], first.data)
    assert first.headers["Last-Modified"]
    cached = mentoring.client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert cached.status_code == 304 and cached.data == b""
    assert cached.headers["ETag"] == first.headers["ETag"]
    since = mentoring.client.get(
        path, headers={"If-Modified-Since": first.headers["Last-Modified"]}
    )
    assert since.status_code == 304
    # A change shows: a new ETag and new bytes; a stale ETag gets the full feed.
    mentoring.client.patch(
        f"/api/mentoring/meetings/{meeting['id']}",
        json={"online_url": "https://meet.example.org/new-room"},
        headers=mentor.headers,
    )
    changed = mentoring.client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != first.headers["ETag"] and changed.data != first.data
    assert b"new-room" in changed.data


def test_revoked_feeds_answer_404_and_only_the_owner_or_an_admin_revokes(
    mentoring: MentoringApp,
) -> None:
    mentor, mentee, _lead, _match_id = active_match(mentoring)
    body, path = new_feed(mentoring, mentor)
    url = f"{FEEDS}/{body['id']}"
    assert mentoring.client.delete(url, headers=mentee.headers).status_code == 404
    assert mentoring.client.delete(url, headers=mentoring.lead().headers).status_code == 404
    assert mentoring.client.get(path).status_code == 200
    assert mentoring.client.delete(url, headers=mentor.headers).status_code == 204
    assert mentoring.client.delete(url, headers=mentor.headers).status_code == 204  # idempotent
    assert mentoring.client.get(path).status_code == 404
    assert mentoring.client.get(FEEDS, headers=mentor.headers).get_json() == {"items": []}
    missing = f"{FEEDS}/{uuid.uuid4()}"
    assert mentoring.client.delete(missing, headers=mentor.headers).status_code == 404
    # An admin can revoke anyone's (a leaked URL).
    other, other_path = new_feed(mentoring, mentee)
    admin = mentoring.admin()
    assert (
        mentoring.client.delete(f"{FEEDS}/{other['id']}", headers=admin.headers).status_code == 204
    )
    assert mentoring.client.get(other_path).status_code == 404
    # Unknown and mangled tokens look the same as revoked ones.
    assert mentoring.client.get("/calendar/mentoring/nope.ics").status_code == 404
    assert mentoring.client.get(f"/calendar/mentoring/{'x' * 300}.ics").status_code == 404


def test_a_deactivated_owners_feed_answers_404(mentoring: MentoringApp) -> None:
    mentor, _mentee, _lead, _match_id = active_match(mentoring)
    _body, path = new_feed(mentoring, mentor)
    assert mentoring.client.get(path).status_code == 200
    account(mentoring, mentor.user_id, is_active=False)
    assert mentoring.client.get(path).status_code == 404
    account(mentoring, mentor.user_id, is_active=True)  # reactivated: theirs again
    assert mentoring.client.get(path).status_code == 200
