"""Mentor profiles: who may write and read them, and what is refused."""

from __future__ import annotations

import uuid

import pytest

from shared.db import utcnow
from shared.identity import apply_state, state_event
from tests.mentoring.conftest import HUB, OTHER_HUB, MentoringApp, profile_body


def test_a_mentor_creates_replaces_and_reads_their_profile(mentoring: MentoringApp) -> None:
    m = mentoring.mentor(name="Margaret Ellison")
    resp = mentoring.put_profile(m)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["user_id"] == m.user_id and body["name"] == "Margaret Ellison"
    assert body["load"] == 0 and body["capacity"] == 3 and body["hub_id"] == str(HUB)
    assert body["specialisms"] == ["psed", "send"]
    resp = mentoring.put_profile(m, capacity=5, available=False, region=None)
    assert resp.status_code == 200
    got = mentoring.client.get("/api/mentoring/mentors/me", headers=m.headers).get_json()
    assert (got["capacity"], got["available"], got["region"]) == (5, False, None)
    assert got["created_at"] == body["created_at"]


def test_own_profile_needs_the_mentor_role_and_a_hub_of_theirs(mentoring: MentoringApp) -> None:
    assert mentoring.client.put("/api/mentoring/mentors/me", json={}).status_code == 401
    practitioner = mentoring.practitioner()
    assert mentoring.put_profile(practitioner).status_code == 403
    m = mentoring.mentor(hub=OTHER_HUB)
    resp = mentoring.put_profile(m)  # HUB is not theirs
    assert resp.status_code == 403
    assert resp.get_json()["type"] == "urn:eyhub:problem:forbidden"
    resp = mentoring.client.get("/api/mentoring/mentors/me", headers=m.headers)
    assert resp.status_code == 404


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"capacity": 0}, "capacity"),
        ({"capacity": 21}, "capacity"),
        ({"capacity": "3"}, "capacity"),
        ({"formats": []}, "formats"),
        ({"formats": ["carrier_pigeon"]}, "formats"),
        ({"specialisms": ["astrology"]}, "specialisms"),
        ({"specialisms": ["send", "send"]}, "specialisms"),
        ({"setting_types": ["castle"]}, "setting_types"),
        ({"setting_name": "a\nb"}, "setting_name"),
        ({"hub_id": "nope"}, "hub_id"),
    ],
)
def test_invalid_profiles_are_422_naming_the_field(
    mentoring: MentoringApp, overrides: dict, field: str
) -> None:
    resp = mentoring.put_profile(mentoring.mentor(), **overrides)
    assert resp.status_code == 422, resp.get_json()
    assert resp.mimetype == "application/problem+json"
    assert field in str(resp.get_json()["errors"])


def test_a_lead_or_admin_writes_a_mentors_profile(mentoring: MentoringApp) -> None:
    mentor_id = str(uuid.uuid4())
    lead = mentoring.lead()
    url = f"/api/mentoring/mentors/{mentor_id}"
    resp = mentoring.client.put(url, json=profile_body(), headers=lead.headers)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["user_id"] == mentor_id
    # Another hub's lead may not move the mentor, nor put them in their own hub.
    other = mentoring.lead(OTHER_HUB)
    resp = mentoring.client.put(url, json=profile_body(), headers=other.headers)
    assert resp.status_code == 403
    body = profile_body(hub_id=str(OTHER_HUB))
    assert mentoring.client.put(url, json=body, headers=other.headers).status_code == 403
    admin = mentoring.admin()
    assert mentoring.client.put(url, json=body, headers=admin.headers).status_code == 200
    # Practitioners and mentors cannot use it; no token: 401.
    for who in (mentoring.practitioner(), mentoring.mentor()):
        assert mentoring.client.put(url, json=body, headers=who.headers).status_code == 403
    assert mentoring.client.put(url, json=body).status_code == 401


def test_the_target_must_be_a_mentor_when_the_replica_knows_them(
    mentoring: MentoringApp,
) -> None:
    known = str(uuid.uuid4())
    with mentoring.db.transaction() as s:
        apply_state(
            s,
            state_event(
                user_id=known,
                is_active=True,
                roles=["practitioner"],
                hub_ids=[],
                tokens_valid_after=None,
                changed_at=utcnow(),
            ),
        )
    lead = mentoring.lead()
    resp = mentoring.client.put(
        f"/api/mentoring/mentors/{known}", json=profile_body(), headers=lead.headers
    )
    assert resp.status_code == 422
    assert "user_id" in resp.get_json()["errors"]


def test_hub_mentor_list_is_for_its_leads_and_pages(mentoring: MentoringApp) -> None:
    for i in range(3):
        assert mentoring.put_profile(mentoring.mentor(name=f"Mentor {i}")).status_code == 200
    lead = mentoring.lead()
    url = f"/api/mentoring/mentors?hub_id={HUB}&limit=2"
    first = mentoring.client.get(url, headers=lead.headers).get_json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = mentoring.client.get(
        url + f"&cursor={first['next_cursor']}", headers=lead.headers
    ).get_json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    names = {i["name"] for i in first["items"] + rest["items"]}
    assert names == {"Mentor 0", "Mentor 1", "Mentor 2"}
    assert all(i["load"] == 0 for i in first["items"])
    other = mentoring.lead(OTHER_HUB)
    assert mentoring.client.get(url, headers=other.headers).status_code == 403
    m = mentoring.mentor()
    assert mentoring.client.get(url, headers=m.headers).status_code == 403
    admin = mentoring.admin()
    assert mentoring.client.get(url, headers=admin.headers).status_code == 200
    resp = mentoring.client.get("/api/mentoring/mentors", headers=lead.headers)
    assert resp.status_code == 422  # hub_id is required
    resp = mentoring.client.get(url + "&cursor=zzzz", headers=lead.headers)
    assert resp.status_code == 422
