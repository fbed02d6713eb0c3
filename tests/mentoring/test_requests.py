"""Mentoring requests: filing, the one-open-request rule, who sees what, withdrawal."""

from __future__ import annotations

import uuid

import pytest

from tests.mentoring.conftest import HUB, OTHER_HUB, MentoringApp


def test_a_practitioner_files_a_request(mentoring: MentoringApp) -> None:
    p = mentoring.practitioner(name="Amira Hussain")
    resp = mentoring.ask(p, languages=["Urdu"], region="South East")
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "open" and body["mentee_id"] == p.user_id
    assert body["mentee_name"] == "Amira Hussain" and body["match"] is None
    assert body["goals"].count("\n") == 1 and body["languages"] == ["Urdu"]
    assert resp.headers["Location"] == f"/api/mentoring/requests/{body['id']}"
    got = mentoring.client.get(resp.headers["Location"], headers=p.headers)
    assert got.get_json() == body


def test_one_open_request_per_practitioner_and_hub(mentoring: MentoringApp) -> None:
    p = mentoring.practitioner()
    first = mentoring.ask(p).get_json()
    resp = mentoring.ask(p, topics=["psed"])
    assert resp.status_code == 409
    assert resp.get_json()["type"] == "urn:eyhub:problem:request-exists"
    assert mentoring.ask(p, hub_id=str(OTHER_HUB)).status_code == 201  # another hub: fine
    url = f"/api/mentoring/requests/{first['id']}/withdraw"
    assert mentoring.client.post(url, headers=p.headers).get_json()["status"] == "withdrawn"
    assert mentoring.ask(p).status_code == 201  # withdrawn: may ask again


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"topics": []}, "topics"),
        (
            {"topics": ["send", "psed", "physical", "literacy", "mathematics", "leadership"]},
            "topics",
        ),
        ({"topics": ["astrology"]}, "topics"),
        ({"format": "hybrid"}, "format"),
        ({"setting_type": "castle"}, "setting_type"),
        ({"goals": ""}, "goals"),
        ({"goals": "x\x00y"}, "goals"),
        ({"setting_name": "x" * 201}, "setting_name"),
        ({"hub_id": None}, "hub_id"),
    ],
)
def test_invalid_requests_are_422(mentoring: MentoringApp, overrides: dict, field: str) -> None:
    resp = mentoring.ask(mentoring.practitioner(), **overrides)
    assert resp.status_code == 422, resp.get_json()
    assert field in str(resp.get_json()["errors"])


def test_only_practitioners_file_requests(mentoring: MentoringApp) -> None:
    assert mentoring.client.post("/api/mentoring/requests", json={}).status_code == 401
    for who in (mentoring.mentor(), mentoring.lead()):
        assert mentoring.ask(who).status_code == 403


def test_who_sees_which_requests(mentoring: MentoringApp) -> None:
    a, b = mentoring.practitioner(), mentoring.practitioner()
    ra = mentoring.ask(a).get_json()
    rb = mentoring.ask(b).get_json()
    rc = mentoring.ask(a, hub_id=str(OTHER_HUB)).get_json()
    c = mentoring.client
    # A practitioner never sees another's request (404, not 403).
    assert c.get(f"/api/mentoring/requests/{rb['id']}", headers=a.headers).status_code == 404
    assert c.get(f"/api/mentoring/requests/{uuid.uuid4()}", headers=a.headers).status_code == 404
    own = c.get("/api/mentoring/requests", headers=a.headers).get_json()
    assert {r["id"] for r in own["items"]} == {ra["id"], rc["id"]}
    own_here = c.get(f"/api/mentoring/requests?hub_id={HUB}", headers=a.headers).get_json()
    assert [r["id"] for r in own_here["items"]] == [ra["id"]]
    # A lead sees all of their hub's, not another hub's.
    lead = mentoring.lead()
    hub = c.get(f"/api/mentoring/requests?hub_id={HUB}", headers=lead.headers).get_json()
    assert {r["id"] for r in hub["items"]} == {ra["id"], rb["id"]}
    assert c.get(f"/api/mentoring/requests/{rb['id']}", headers=lead.headers).status_code == 200
    assert c.get(f"/api/mentoring/requests/{rc['id']}", headers=lead.headers).status_code == 404
    resp = c.get(f"/api/mentoring/requests?hub_id={OTHER_HUB}", headers=lead.headers)
    assert resp.status_code == 403
    # Admins see everything.
    admin = mentoring.admin()
    every = c.get("/api/mentoring/requests?limit=2", headers=admin.headers).get_json()
    assert len(every["items"]) == 2 and every["next_cursor"]
    assert c.get(f"/api/mentoring/requests/{rc['id']}", headers=admin.headers).status_code == 200
    assert c.get("/api/mentoring/requests").status_code == 401
    resp = c.get("/api/mentoring/requests?status=nope", headers=a.headers)
    assert resp.status_code == 422


def test_withdrawal_is_for_the_owner_of_a_live_request(mentoring: MentoringApp) -> None:
    a, b = mentoring.practitioner(), mentoring.practitioner()
    ra = mentoring.ask(a).get_json()
    url = f"/api/mentoring/requests/{ra['id']}/withdraw"
    c = mentoring.client
    assert c.post(url).status_code == 401
    assert c.post(url, headers=b.headers).status_code == 404
    assert c.post(url, headers=mentoring.lead().headers).status_code == 403
    resp = c.post(url, headers=a.headers)
    assert resp.status_code == 200 and resp.get_json()["withdrawn_at"]
    resp = c.post(url, headers=a.headers)
    assert resp.status_code == 409
    assert (
        c.post(f"/api/mentoring/requests/{uuid.uuid4()}/withdraw", headers=a.headers).status_code
        == 404
    )
