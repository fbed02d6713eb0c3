"""Matching runs through the API, the match lifecycle, caseloads, events and mail."""

from __future__ import annotations

import uuid

from shared.events import mentoring as events
from tests.mentoring.conftest import HUB, OTHER_HUB, MentoringApp, Person


def _setup(mentoring: MentoringApp) -> tuple[Person, Person, Person, Person, dict, dict, dict]:
    """Two mentors, three practitioners: a SEND childminder (online), a maths nursery
    request (in person, South East) and one only in person where no mentor goes."""
    send = mentoring.mentor(name="Margaret Ellison")
    maths = mentoring.mentor(name="David Achterberg")
    assert mentoring.put_profile(send, capacity=2, formats=["online"]).status_code == 200
    assert (
        mentoring.put_profile(
            maths,
            specialisms=["mathematics", "early_reading"],
            setting_types=["nursery", "school"],
            formats=["online"],
            region="South East",
            setting_name="Hollybank Primary",
            capacity=2,
        ).status_code
        == 200
    )
    a, b, c = (mentoring.practitioner(n) for n in ("Amira", "Kirsty", "Joanne"))
    ra = mentoring.ask(a).get_json()
    rb = mentoring.ask(
        b, topics=["mathematics"], setting_type="nursery", setting_name="Sunflowers"
    ).get_json()
    rc = mentoring.ask(c, format="in_person", setting_name="St Mary's").get_json()
    return send, maths, a, b, ra, rb, rc


def test_a_run_proposes_the_best_pairs_and_says_why_the_rest_are_unmatched(
    mentoring: MentoringApp,
) -> None:
    send, maths, a, _b, ra, rb, rc = _setup(mentoring)
    lead = mentoring.lead()
    resp = mentoring.run(lead)
    assert resp.status_code == 201, resp.get_json()
    run = resp.get_json()
    pairs = {m["request_id"]: m for m in run["matches"]}
    assert set(pairs) == {ra["id"], rb["id"]}
    assert pairs[ra["id"]]["mentor_id"] == send.user_id
    assert pairs[rb["id"]]["mentor_id"] == maths.user_id
    first = pairs[ra["id"]]
    assert first["status"] == "proposed" and first["mentee_id"] == a.user_id
    assert first["breakdown"]["topics"] == 10 and first["breakdown"]["setting_type"] == 6
    assert first["score"] == sum(first["breakdown"].values())
    assert run["unmatched"] == [{"request_id": rc["id"], "reason": "no_compatible_format"}]
    assert run["weights"]["topic"] == 10
    # Stored: the run reads back the same; matched requests are no longer open.
    stored = mentoring.client.get(
        f"/api/mentoring/hubs/{HUB}/matching-runs/{run['id']}", headers=lead.headers
    ).get_json()
    assert stored == run
    got = mentoring.client.get(f"/api/mentoring/requests/{ra['id']}", headers=a.headers)
    assert got.get_json()["status"] == "matched"
    assert got.get_json()["match"]["mentor_name"] == "Margaret Ellison"
    # Events and mails: one proposed event per match, a mail to both people of each.
    proposed = mentoring.events(events.MATCH_PROPOSED)
    assert len(proposed) == 2
    for _t, data in proposed:
        events.SCHEMAS[events.MATCH_PROPOSED]().load(data)
        assert data["hub_id"] == str(HUB)
    assert len(mentoring.mails(a.email)) == 1 and len(mentoring.mails(send.email)) == 1
    mail = mentoring.mails(send.email)[0]
    assert "Amira" in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()
    assert "Build confidence with EHCPs." in text
    # Load counts proposals.
    mine = mentoring.client.get("/api/mentoring/mentors/me", headers=send.headers).get_json()
    assert mine["load"] == 1


def test_rerun_leaves_matches_alone_and_nothing_open_is_an_empty_run(
    mentoring: MentoringApp,
) -> None:
    _setup(mentoring)
    lead = mentoring.lead()
    first = mentoring.run(lead).get_json()
    second = mentoring.run(lead)
    assert second.status_code == 201
    body = second.get_json()
    assert body["matches"] == [] and len(body["unmatched"]) == 1
    assert len(mentoring.events(events.MATCH_PROPOSED)) == len(first["matches"])
    empty = mentoring.run(mentoring.lead(OTHER_HUB), OTHER_HUB).get_json()
    assert empty["matches"] == [] and empty["unmatched"] == []


def test_run_access(mentoring: MentoringApp) -> None:
    c = mentoring.client
    assert c.post(f"/api/mentoring/hubs/{HUB}/matching-runs").status_code == 401
    for who in (mentoring.practitioner(), mentoring.mentor(), mentoring.lead(OTHER_HUB)):
        assert mentoring.run(who).status_code == 403
    assert mentoring.run(mentoring.admin()).status_code == 201
    lead = mentoring.lead()
    url = f"/api/mentoring/hubs/{HUB}/matching-runs/{uuid.uuid4()}"
    assert c.get(url, headers=lead.headers).status_code == 404
    run = mentoring.run(lead).get_json()
    url = f"/api/mentoring/hubs/{OTHER_HUB}/matching-runs/{run['id']}"
    assert c.get(url, headers=mentoring.lead(OTHER_HUB).headers).status_code == 404
    url = f"/api/mentoring/hubs/{HUB}/matching-runs/{run['id']}"
    assert c.get(url, headers=mentoring.lead(OTHER_HUB).headers).status_code == 403


def test_accept_close_and_their_mail_and_events(mentoring: MentoringApp) -> None:
    send, maths, a, _b, ra, _rb, _rc = _setup(mentoring)
    lead = mentoring.lead()
    run = mentoring.run(lead).get_json()
    match = next(m for m in run["matches"] if m["request_id"] == ra["id"])
    mid = match["id"]
    # Only the proposed mentor accepts.
    assert mentoring.act(maths, mid, "accept").status_code == 404  # not theirs to see
    assert mentoring.act(lead, mid, "accept").status_code == 403  # not a mentor role
    assert mentoring.act(a, mid, "accept").status_code == 403
    assert mentoring.act(send, str(uuid.uuid4()), "accept").status_code == 404
    resp = mentoring.act(send, mid, "accept")
    assert resp.status_code == 200 and resp.get_json()["status"] == "active"
    assert mentoring.act(send, mid, "accept").status_code == 409
    assert mentoring.act(send, mid, "decline").status_code == 409
    assert len(mentoring.mails(a.email)) == 2 and len(mentoring.mails(send.email)) == 2
    assert "has started" in mentoring.mails(a.email)[-1]["Subject"]
    accepted = mentoring.events(events.MATCH_ACCEPTED)
    assert [d["match_id"] for _t, d in accepted] == [mid]
    # The active mentee cannot withdraw; the caseload shows the match.
    url = f"/api/mentoring/requests/{ra['id']}/withdraw"
    assert mentoring.client.post(url, headers=a.headers).status_code == 409
    case = mentoring.client.get("/api/mentoring/caseload", headers=send.headers).get_json()
    assert case["load"] == 1 and case["capacity"] == 2
    item = case["items"][0]
    assert item["match_id"] == mid and item["mentee_name"] == "Amira"
    assert item["setting_type"] == "childminder" and item["topics"] == ["send"]
    assert (item["meetings_held"], item["minutes_logged"], item["last_meeting_at"]) == (0, 0, None)
    # Close: outcome enum and a summary; mentor or lead; only when active.
    body = {"outcome": "goals_met", "summary": "Plans in place.\nConfident with EHCPs."}
    assert mentoring.act(send, mid, "close", {"outcome": "won", "summary": "x"}).status_code == 422
    assert mentoring.act(maths, mid, "close", body).status_code == 404
    assert mentoring.act(a, mid, "close", body).status_code == 403  # practitioner role
    other_lead = mentoring.lead(OTHER_HUB)
    assert mentoring.act(other_lead, mid, "close", body).status_code == 404
    resp = mentoring.act(lead, mid, "close", body)
    assert resp.status_code == 200 and resp.get_json()["outcome"] == "goals_met"
    assert mentoring.act(send, mid, "close", body).status_code == 409
    closed = mentoring.events(events.MATCH_CLOSED)
    assert closed[0][1]["outcome"] == "goals_met" and closed[0][1]["closed_by"] == lead.user_id
    got = mentoring.client.get(f"/api/mentoring/requests/{ra['id']}", headers=a.headers)
    assert got.get_json()["status"] == "closed"
    assert mentoring.ask(a).status_code == 201  # may ask again after closing


def test_decline_reopens_and_a_rerun_never_proposes_the_pair_again(
    mentoring: MentoringApp,
) -> None:
    send = mentoring.mentor(name="Margaret")
    other = mentoring.mentor(name="Nasreen")
    mentoring.put_profile(send, capacity=2)
    mentoring.put_profile(other, capacity=2, setting_types=["school"], setting_name="Elsewhere")
    a = mentoring.practitioner()
    ra = mentoring.ask(a).get_json()
    lead = mentoring.lead()
    first = mentoring.run(lead).get_json()["matches"][0]
    assert first["mentor_id"] == send.user_id  # knows childminders: the better score
    assert mentoring.act(other, first["id"], "decline").status_code == 404
    resp = mentoring.act(send, first["id"], "decline", {"reason": "Full this term."})
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "declined"
    assert resp.get_json()["decline_reason"] == "Full this term."
    got = mentoring.client.get(f"/api/mentoring/requests/{ra['id']}", headers=a.headers)
    assert got.get_json()["status"] == "open" and got.get_json()["match"] is None
    second = mentoring.run(lead).get_json()
    assert [m["mentor_id"] for m in second["matches"]] == [other.user_id]
    # A lead declines too; then nobody is left for this mentee.
    assert mentoring.act(lead, second["matches"][0]["id"], "decline").status_code == 200
    third = mentoring.run(lead).get_json()
    assert third["matches"] == []
    assert third["unmatched"] == [{"request_id": ra["id"], "reason": "all_candidates_excluded"}]


def test_withdrawing_a_proposed_request_frees_the_mentor(mentoring: MentoringApp) -> None:
    send = mentoring.mentor()
    mentoring.put_profile(send, capacity=1)
    a, b = mentoring.practitioner("A"), mentoring.practitioner("B")
    ra = mentoring.ask(a).get_json()
    mentoring.ask(b, setting_name="Other place").get_json()
    lead = mentoring.lead()
    run = mentoring.run(lead).get_json()
    assert len(run["matches"]) == 1
    assert run["unmatched"][0]["reason"] == "no_mentor_with_capacity"
    proposed_for = run["matches"][0]["request_id"]
    owner = a if proposed_for == ra["id"] else b
    url = f"/api/mentoring/requests/{proposed_for}/withdraw"
    assert mentoring.client.post(url, headers=owner.headers).get_json()["status"] == "withdrawn"
    match = mentoring.client.get(
        f"/api/mentoring/matches/{run['matches'][0]['id']}", headers=send.headers
    ).get_json()
    assert match["status"] == "withdrawn"
    assert mentoring.act(send, match["id"], "accept").status_code == 409
    again = mentoring.run(lead).get_json()
    assert len(again["matches"]) == 1 and again["matches"][0]["request_id"] != proposed_for


def test_lowered_capacity_keeps_mentees_but_gets_no_new_proposals(
    mentoring: MentoringApp,
) -> None:
    send = mentoring.mentor()
    mentoring.put_profile(send, capacity=2)
    a, b = mentoring.practitioner("A"), mentoring.practitioner("B")
    mentoring.ask(a)
    mentoring.ask(b, setting_name="Another setting")
    lead = mentoring.lead()
    run = mentoring.run(lead).get_json()
    assert len(run["matches"]) == 2
    for m in run["matches"]:
        assert mentoring.act(send, m["id"], "accept").status_code == 200
    assert mentoring.put_profile(send, capacity=1).status_code == 200
    c = mentoring.practitioner("C")
    rc = mentoring.ask(c, setting_name="Third setting").get_json()
    again = mentoring.run(lead).get_json()
    assert again["matches"] == []
    assert again["unmatched"] == [{"request_id": rc["id"], "reason": "no_mentor_with_capacity"}]
    case = mentoring.client.get("/api/mentoring/caseload", headers=send.headers).get_json()
    assert case["load"] == 2 and case["capacity"] == 1
    loads = mentoring.client.get(
        f"/api/mentoring/hubs/{HUB}/caseloads", headers=lead.headers
    ).get_json()
    assert loads["mentors"] == [
        {
            "user_id": send.user_id,
            "name": "Margaret Ellison",
            "load": 2,
            "active": 2,
            "proposed": 0,
            "capacity": 1,
            "available": True,
        }
    ]


def test_caseload_access(mentoring: MentoringApp) -> None:
    c = mentoring.client
    assert c.get("/api/mentoring/caseload").status_code == 401
    assert (
        c.get("/api/mentoring/caseload", headers=mentoring.practitioner().headers).status_code
        == 403
    )
    empty = c.get("/api/mentoring/caseload", headers=mentoring.mentor().headers).get_json()
    assert empty == {"capacity": None, "load": 0, "items": []}
    url = f"/api/mentoring/hubs/{HUB}/caseloads"
    assert c.get(url).status_code == 401
    assert c.get(url, headers=mentoring.mentor().headers).status_code == 403
    assert c.get(url, headers=mentoring.lead(OTHER_HUB).headers).status_code == 403
    assert c.get(url, headers=mentoring.admin().headers).get_json()["mentors"] == []


def test_match_visibility(mentoring: MentoringApp) -> None:
    send, _maths, a, b, ra, _rb, _rc = _setup(mentoring)
    run = mentoring.run(mentoring.lead()).get_json()
    mid = next(m["id"] for m in run["matches"] if m["request_id"] == ra["id"])
    url = f"/api/mentoring/matches/{mid}"
    c = mentoring.client
    for who in (send, a, mentoring.lead(), mentoring.admin()):
        assert c.get(url, headers=who.headers).status_code == 200
    for who in (b, mentoring.lead(OTHER_HUB), mentoring.mentor()):
        assert c.get(url, headers=who.headers).status_code == 404
    assert c.get(url).status_code == 401
    assert mentoring.act(a, mid, "decline").status_code == 403  # a practitioner: wrong role


def test_the_proposed_mentor_sees_the_request_but_other_mentors_do_not(
    mentoring: MentoringApp,
) -> None:
    send, maths, _a, _b, ra, _rb, _rc = _setup(mentoring)
    assert mentoring.run(mentoring.lead()).status_code == 201
    url = f"/api/mentoring/requests/{ra['id']}"
    seen = mentoring.client.get(url, headers=send.headers)
    assert seen.status_code == 200 and seen.get_json()["goals"] == ra["goals"]
    assert mentoring.client.get(url, headers=maths.headers).status_code == 404
    # Seeing is not owning: only the practitioner withdraws.
    assert mentoring.client.post(f"{url}/withdraw", headers=send.headers).status_code == 403
