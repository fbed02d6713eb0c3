"""Mentoring meetings: invites by mail (one UID, SEQUENCE 0 → 1 → 2), who may do what,
logging (the event in the outbox), and notes only the pair can read."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from icalendar import Calendar

from services.mentoring.meetings import meeting_stats
from shared.events import mentoring as events
from tests.mentoring.conftest import HUB, OTHER_HUB, MentoringApp, Person


# -- helpers ---------------------------------------------------------------------------------
def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def soon(days: float = 2, hours: float = 1) -> tuple[str, str]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    return iso(start), iso(start + timedelta(hours=hours))


def meeting_body(**overrides: Any) -> dict[str, Any]:
    starts, ends = soon()
    body: dict[str, Any] = {
        "starts_at": starts,
        "ends_at": ends,
        "format": "online",
        "online_url": "https://meet.example.org/abc-defg",
    }
    body.update(overrides)
    return body


def active_match(
    mentoring: MentoringApp, hub: uuid.UUID = HUB
) -> tuple[Person, Person, Person, str]:
    """Mentor, mentee, hub lead and an ACTIVE match in ``hub``, through the API."""
    mentor = mentoring.mentor(hub, name="Margaret Ellison")
    mentee = mentoring.practitioner("Amira Hussain")
    lead = mentoring.lead(hub)
    assert mentoring.put_profile(mentor, hub_id=str(hub)).status_code == 200
    assert mentoring.ask(mentee, hub_id=str(hub)).status_code == 201
    run = mentoring.run(lead, hub).get_json()
    match_id = run["matches"][0]["id"]
    assert mentoring.act(mentor, match_id, "accept").status_code == 200
    return mentor, mentee, lead, match_id


def schedule(mentoring: MentoringApp, who: Person, match_id: str, **overrides: Any) -> Any:
    return mentoring.client.post(
        f"/api/mentoring/matches/{match_id}/meetings",
        json=meeting_body(**overrides),
        headers=who.headers,
    )


def invites(mentoring: MentoringApp, to: str) -> list[tuple[EmailMessage, Any]]:
    """The mails to ``to`` carrying an invite, with the invite's VEVENT and METHOD."""
    found = []
    for mail in mentoring.mails(to):
        for part in mail.walk():
            if part.get_content_type() == "text/calendar":
                cal = Calendar.from_ical(part.get_content())
                assert part.get_param("method") == str(cal["METHOD"])
                event = next(iter(cal.walk("VEVENT")))
                found.append((mail, (str(cal["METHOD"]), event)))
    return found


# -- invites ---------------------------------------------------------------------------------
def test_both_get_invites_with_one_uid_and_sequence_0_1_2(mentoring: MentoringApp) -> None:
    mentor, mentee, _lead, match_id = active_match(mentoring)
    resp = schedule(mentoring, mentor, match_id)
    assert resp.status_code == 201, resp.get_json()
    meeting = resp.get_json()
    assert resp.headers["Location"] == f"/api/mentoring/meetings/{meeting['id']}"
    assert meeting["status"] == "scheduled" and meeting["sequence"] == 0
    assert meeting["location"] is None and meeting["notes"] is None
    uid = f"meeting-{meeting['id']}@{mentoring.settings.public_host}"

    for person in (mentor, mentee):
        [(mail, (method, event))] = invites(mentoring, person.email)
        assert method == "REQUEST"
        assert str(event["UID"]) == uid and int(event["SEQUENCE"]) == 0
        assert str(event["STATUS"]) == "CONFIRMED"
        attendees = sorted(str(a) for a in event.get("ATTENDEE"))
        assert attendees == sorted(f"mailto:{p.email}" for p in (mentor, mentee))
        assert "Mentoring meeting" in mail["Subject"]
        assert "https://meet.example.org/abc-defg" in mail.get_body(("plain",)).get_content()
        assert mail.get_body(("html",)) is not None
    text = invites(mentoring, mentee.email)[0][0].get_body(("plain",)).get_content()
    assert "Margaret Ellison arranged a mentoring meeting with you" in text

    # The mentee moves it to a place: an update, SEQUENCE 1, same UID.
    starts, ends = soon(days=3, hours=2)
    moved = mentoring.client.patch(
        f"/api/mentoring/meetings/{meeting['id']}",
        json={
            "starts_at": starts,
            "ends_at": ends,
            "format": "in_person",
            "location": "Hub room 2",
        },
        headers=mentee.headers,
    )
    assert moved.status_code == 200, moved.get_json()
    body = moved.get_json()
    assert body["sequence"] == 1 and body["online_url"] is None
    assert body["location"] == "Hub room 2"
    for person in (mentor, mentee):
        method, event = invites(mentoring, person.email)[-1][1]
        assert (method, str(event["UID"]), int(event["SEQUENCE"])) == ("REQUEST", uid, 1)
        assert event.decoded("DTSTART").astimezone(UTC) == datetime.fromisoformat(starts)
        assert str(event["LOCATION"]) == "Hub room 2"

    # Nothing changed: nobody is mailed, SEQUENCE stays.
    before = len(mentoring.mails())
    same = mentoring.client.patch(
        f"/api/mentoring/meetings/{meeting['id']}",
        json={"starts_at": starts},
        headers=mentor.headers,
    )
    assert same.status_code == 200 and same.get_json()["sequence"] == 1
    assert len(mentoring.mails()) == before

    # Cancelled: METHOD:CANCEL, SEQUENCE 2, same UID.
    gone = mentoring.client.post(
        f"/api/mentoring/meetings/{meeting['id']}/cancel", headers=mentor.headers
    )
    assert gone.status_code == 200 and gone.get_json()["status"] == "cancelled"
    for person in (mentor, mentee):
        mail, (method, event) = invites(mentoring, person.email)[-1]
        assert (method, str(event["UID"]), int(event["SEQUENCE"])) == ("CANCEL", uid, 2)
        assert str(event["STATUS"]) == "CANCELLED"
        assert "cancelled" in mail["Subject"]
    assert len(invites(mentoring, mentor.email)) == 3

    # A cancelled meeting cannot be cancelled, moved or logged.
    url = f"/api/mentoring/meetings/{meeting['id']}"
    assert mentoring.client.post(f"{url}/cancel", headers=mentee.headers).status_code == 409
    assert (
        mentoring.client.patch(url, json={"location": "Elsewhere"}, headers=mentor.headers)
    ).status_code == 409
    log = {"minutes": 30, "notes": "x"}
    assert mentoring.client.post(f"{url}/log", json=log, headers=mentor.headers).status_code == 409


# -- who may do what -----------------------------------------------------------------------
def test_only_the_pair_arranges_meetings(mentoring: MentoringApp) -> None:
    mentor, mentee, lead, match_id = active_match(mentoring)
    stranger = mentoring.practitioner("Someone Else")
    other_mentor = mentoring.mentor(name="Other Mentor")
    other_lead = mentoring.lead(OTHER_HUB)
    admin = mentoring.admin()
    assert schedule(mentoring, lead, match_id).status_code == 403  # a lead of its hub
    assert schedule(mentoring, admin, match_id).status_code == 403
    assert schedule(mentoring, other_lead, match_id).status_code == 403
    assert schedule(mentoring, stranger, match_id).status_code == 404  # never leak
    assert schedule(mentoring, other_mentor, match_id).status_code == 404
    assert schedule(mentoring, mentor, str(uuid.uuid4())).status_code == 404
    no_token = mentoring.client.post(
        f"/api/mentoring/matches/{match_id}/meetings", json=meeting_body()
    )
    assert no_token.status_code == 401

    meeting_id = schedule(mentoring, mentee, match_id).get_json()["id"]
    url = f"/api/mentoring/meetings/{meeting_id}"
    change = {"location": "Hub room 1", "format": "in_person"}
    assert mentoring.client.patch(url, json=change, headers=stranger.headers).status_code == 404
    assert mentoring.client.patch(url, json=change, headers=lead.headers).status_code == 403
    assert mentoring.client.post(f"{url}/cancel", headers=stranger.headers).status_code == 404
    assert mentoring.client.post(f"{url}/cancel", headers=admin.headers).status_code == 403
    missing = f"/api/mentoring/meetings/{uuid.uuid4()}"
    assert mentoring.client.patch(missing, json=change, headers=mentor.headers).status_code == 404
    assert mentoring.client.post(f"{missing}/cancel", headers=mentor.headers).status_code == 404
    # Nothing the refused callers did was stored or mailed.
    listed = mentoring.client.get(
        f"/api/mentoring/matches/{match_id}/meetings", headers=mentor.headers
    ).get_json()
    assert [m["sequence"] for m in listed["items"]] == [0]


def test_meetings_need_an_active_match(mentoring: MentoringApp) -> None:
    mentor = mentoring.mentor()
    mentee = mentoring.practitioner()
    assert mentoring.put_profile(mentor).status_code == 200
    assert mentoring.ask(mentee).status_code == 201
    match_id = mentoring.run(mentoring.lead()).get_json()["matches"][0]["id"]
    assert schedule(mentoring, mentee, match_id).status_code == 409  # only proposed
    assert mentoring.act(mentor, match_id, "accept").status_code == 200
    meeting_id = schedule(mentoring, mentee, match_id).get_json()["id"]
    closed = mentoring.act(mentor, match_id, "close", {"outcome": "goals_met", "summary": "Done."})
    assert closed.status_code == 200
    assert schedule(mentoring, mentor, match_id).status_code == 409
    moved = mentoring.client.patch(
        f"/api/mentoring/meetings/{meeting_id}",
        json={"location": "Hub", "format": "in_person"},
        headers=mentor.headers,
    )
    assert moved.status_code == 409
    # Closing the match called its meeting still to come off (CANCEL invites to both).
    listed = mentoring.client.get(
        f"/api/mentoring/matches/{match_id}/meetings", headers=mentee.headers
    ).get_json()
    (row,) = [m for m in listed["items"] if m["id"] == meeting_id]
    assert row["status"] == "cancelled"
    for person in (mentor, mentee):
        methods = [method for _mail, (method, _event) in invites(mentoring, person.email)]
        assert methods[-1] == "CANCEL", methods


@pytest.mark.parametrize(
    "change",
    [
        {"ends_at": "starts"},  # not after starts_at
        {"ends_at": "13h"},  # longer than 12 hours
        {"online_url": None},
        {"online_url": "ftp://files.example.org/x"},
        {"online_url": "javascript:alert(1)"},
        {"format": "in_person"},  # no location
        {"format": "phone"},
        {"starts_at": "2027-03-01T09:30:00"},  # naive
        {"location": "Room\n2", "format": "in_person"},
        {"starts_at": None},
    ],
)
def test_invalid_meetings_are_422(mentoring: MentoringApp, change: dict[str, Any]) -> None:
    mentor, _mentee, _lead, match_id = active_match(mentoring)
    body = meeting_body()
    start = datetime.fromisoformat(body["starts_at"])
    if change.get("ends_at") == "starts":
        change = {"ends_at": body["starts_at"]}
    elif change.get("ends_at") == "13h":
        change = {"ends_at": iso(start + timedelta(hours=13))}
    body.update(change)
    resp = mentoring.client.post(
        f"/api/mentoring/matches/{match_id}/meetings", json=body, headers=mentor.headers
    )
    assert resp.status_code == 422, resp.get_json()
    assert mentoring.mails(mentor.email) and not invites(mentoring, mentor.email)


def test_a_reschedule_is_checked_as_a_whole(mentoring: MentoringApp) -> None:
    mentor, _mentee, _lead, match_id = active_match(mentoring)
    meeting = schedule(mentoring, mentor, match_id).get_json()
    url = f"/api/mentoring/meetings/{meeting['id']}"
    start = datetime.fromisoformat(meeting["starts_at"])
    for bad in (
        {},
        {"ends_at": iso(start + timedelta(hours=12, minutes=1))},  # with the stored start
        {"starts_at": iso(start + timedelta(hours=2))},  # after the stored end
        {"format": "in_person"},  # no location stored or sent
        {"online_url": "not a url"},
    ):
        resp = mentoring.client.patch(url, json=bad, headers=mentor.headers)
        assert resp.status_code == 422, (bad, resp.get_json())
    assert len(invites(mentoring, mentor.email)) == 1


# -- logging -------------------------------------------------------------------------------
def test_the_mentor_logs_a_meeting_once_it_started(mentoring: MentoringApp) -> None:
    mentor, mentee, _lead, match_id = active_match(mentoring)
    future = schedule(mentoring, mentor, match_id).get_json()
    log = {"minutes": 55, "notes": "Talked EHCPs.\nShared templates.", "next_steps": "Draft one."}
    early = mentoring.client.post(
        f"/api/mentoring/meetings/{future['id']}/log", json=log, headers=mentor.headers
    )
    assert early.status_code == 409

    starts, ends = soon(days=-1)
    past = schedule(mentoring, mentee, match_id, starts_at=starts, ends_at=ends).get_json()
    url = f"/api/mentoring/meetings/{past['id']}/log"
    assert mentoring.client.post(url, json=log, headers=mentee.headers).status_code == 403
    for bad in (
        {**log, "minutes": 0},
        {**log, "minutes": 601},
        {"minutes": 30},
        {**log, "minutes": "5"},
    ):
        assert mentoring.client.post(url, json=bad, headers=mentor.headers).status_code == 422
    assert mentoring.events(events.MEETING_LOGGED) == []

    done = mentoring.client.post(url, json=log, headers=mentor.headers)
    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert body["logged"] is True and body["minutes"] == 55
    assert (
        body["notes"] == "Talked EHCPs.\nShared templates." and body["next_steps"] == "Draft one."
    )
    [(_type, data)] = mentoring.events(events.MEETING_LOGGED)
    events.SCHEMAS[events.MEETING_LOGGED]().load(data)
    assert data["match_id"] == match_id and data["mentor_id"] == mentor.user_id
    assert data["minutes"] == 55 and data["hub_id"] == past["hub_id"]
    assert datetime.fromisoformat(data["occurred_at"]) == datetime.fromisoformat(starts)
    # Once only; and a logged meeting is not moved or cancelled any more.
    assert mentoring.client.post(url, json=log, headers=mentor.headers).status_code == 409
    meeting_url = f"/api/mentoring/meetings/{past['id']}"
    assert mentoring.client.post(f"{meeting_url}/cancel", headers=mentee.headers).status_code == 409
    assert (
        mentoring.client.patch(meeting_url, json={"location": "X"}, headers=mentor.headers)
    ).status_code == 409
    assert len(mentoring.events(events.MEETING_LOGGED)) == 1


def test_notes_are_for_the_pair_and_leads_see_minutes(mentoring: MentoringApp) -> None:
    mentor, mentee, lead, match_id = active_match(mentoring)
    starts, ends = soon(days=-2)
    past = schedule(mentoring, mentor, match_id, starts_at=starts, ends_at=ends).get_json()
    log = {"minutes": 45, "notes": "Private reflections.", "next_steps": "Observe story time."}
    mentoring.client.post(
        f"/api/mentoring/meetings/{past['id']}/log", json=log, headers=mentor.headers
    )
    next_start, next_end = soon(days=5)
    schedule(mentoring, mentee, match_id, starts_at=next_start, ends_at=next_end)
    url = f"/api/mentoring/matches/{match_id}/meetings"

    for person in (mentor, mentee):
        got = mentoring.client.get(url, headers=person.headers)
        assert got.status_code == 200
        body = got.get_json()
        assert body["items"][0]["notes"] == "Private reflections."
        assert body["items"][0]["next_steps"] == "Observe story time."
    for reader in (lead, mentoring.admin()):
        got = mentoring.client.get(url, headers=reader.headers)
        assert got.status_code == 200
        body = got.get_json()
        assert "Private reflections" not in got.get_data(as_text=True)
        assert all("notes" not in m and "next_steps" not in m for m in body["items"])
        assert body["items"][0]["minutes"] == 45 and body["items"][0]["logged"] is True
        assert body["meetings_held"] == 1 and body["minutes_logged"] == 45
        assert body["last_meeting_at"] == starts and body["next_meeting_at"] == next_start
    assert mentoring.client.get(url, headers=mentoring.lead(OTHER_HUB).headers).status_code == 403
    assert mentoring.client.get(url, headers=mentoring.practitioner().headers).status_code == 404
    missing = f"/api/mentoring/matches/{uuid.uuid4()}/meetings"
    assert mentoring.client.get(missing, headers=mentor.headers).status_code == 404


def test_meeting_stats_for_the_caseload(mentoring: MentoringApp) -> None:
    mentor, mentee, _lead, match_id = active_match(mentoring)
    started = {}
    for days, minutes in ((-9, 30), (-2, 60), (-1, None)):
        starts, ends = soon(days=days)
        started[days] = starts
        meeting = schedule(mentoring, mentor, match_id, starts_at=starts, ends_at=ends).get_json()
        if minutes:
            log = {"minutes": minutes, "notes": "n"}
            url = f"/api/mentoring/meetings/{meeting['id']}/log"
            assert mentoring.client.post(url, json=log, headers=mentor.headers).status_code == 200
    later = []
    for days in (4, 8):
        starts, ends = soon(days=days)
        later.append(
            schedule(mentoring, mentee, match_id, starts_at=starts, ends_at=ends).get_json()
        )
    mentoring.client.post(
        f"/api/mentoring/meetings/{later[0]['id']}/cancel", headers=mentor.headers
    )
    unknown = uuid.uuid4()
    with mentoring.db.read() as s:
        stats = meeting_stats(s, [uuid.UUID(match_id), unknown])
    st = stats[uuid.UUID(match_id)]
    assert st["meetings_held"] == 2 and st["minutes_logged"] == 90
    assert iso(st["last_meeting_at"]) == started[-2]  # the latest logged one
    assert iso(st["next_meeting_at"]) == later[1]["starts_at"]
    assert stats[unknown] == {
        "meetings_held": 0,
        "minutes_logged": 0,
        "last_meeting_at": None,
        "next_meeting_at": None,
    }


def test_cancel_upcoming_is_what_closing_a_match_can_call(mentoring: MentoringApp) -> None:
    from services.mentoring.meetings import cancel_upcoming
    from services.mentoring.models import Match
    from shared.auth import Identity

    mentor, mentee, _lead, match_id = active_match(mentoring)
    upcoming = schedule(mentoring, mentee, match_id).get_json()
    starts, ends = soon(days=-1)
    schedule(mentoring, mentor, match_id, starts_at=starts, ends_at=ends)  # already started
    who = Identity(mentor.user_id, mentor.email, mentor.name, frozenset({"mentor"}), frozenset())
    with mentoring.db.transaction() as s:
        match = s.get(Match, uuid.UUID(match_id))
        assert match is not None
        assert cancel_upcoming(mentoring.db, s, mentoring.settings, who, match) == 1
    listed = mentoring.client.get(
        f"/api/mentoring/matches/{match_id}/meetings", headers=mentor.headers
    ).get_json()
    assert [m["status"] for m in listed["items"]] == ["scheduled", "cancelled"]
    method, event = invites(mentoring, mentee.email)[-1][1]
    assert (method, int(event["SEQUENCE"])) == ("CANCEL", 1)
    assert str(event["UID"]).startswith(f"meeting-{upcoming['id']}@")


def test_own_meetings_lists_each_persons_meetings_in_one_call(mentoring: MentoringApp) -> None:
    mentor, mentee, lead, match_id = active_match(mentoring)
    later = schedule(
        mentoring,
        mentor,
        match_id,
        **dict(zip(("starts_at", "ends_at"), soon(days=9), strict=True)),
    )
    sooner = schedule(mentoring, mentee, match_id)
    assert later.status_code == sooner.status_code == 201
    ids = [sooner.get_json()["id"], later.get_json()["id"]]
    for who in (mentor, mentee):
        resp = mentoring.client.get("/api/mentoring/meetings", headers=who.headers)
        assert resp.status_code == 200, resp.get_json()
        assert [m["id"] for m in resp.get_json()["items"]] == ids  # soonest first
        assert "notes" in resp.get_json()["items"][0]  # the pair's own view
    after = iso(datetime.now(UTC) + timedelta(days=5))
    resp = mentoring.client.get(f"/api/mentoring/meetings?from={after}", headers=mentee.headers)
    assert [m["id"] for m in resp.get_json()["items"]] == ids[1:]
    other = mentoring.practitioner("Someone Else")
    resp = mentoring.client.get("/api/mentoring/meetings", headers=other.headers)
    assert resp.get_json()["items"] == []
    assert mentoring.client.get("/api/mentoring/meetings", headers=lead.headers).status_code == 403
    bad = mentoring.client.get("/api/mentoring/meetings?limit=0", headers=mentee.headers)
    assert bad.status_code == 422
