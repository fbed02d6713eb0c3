"""Hubs and events: who may create them, what is valid, drafts, publishing, cancelling."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.catalogue.conftest import CatalogueApp, event_body
from tests.support.tokens import bearer


def test_admin_creates_hubs_and_anyone_lists_them(catalogue: CatalogueApp) -> None:
    hub = catalogue.hub(
        "East Sussex Early Years Hub",
        host_setting="Hollybank Primary School",
        eip="Hastings and Rother EIP",
    )
    assert hub["region"] == "South East" and hub["eip"] == "Hastings and Rother EIP"
    listed = catalogue.get("/api/catalogue/hubs").get_json()
    assert [h["name"] for h in listed["items"]] == ["East Sussex Early Years Hub"]
    one = catalogue.get(f"/api/catalogue/hubs/{hub['id']}")
    assert one.status_code == 200 and one.get_json() == hub
    again = catalogue.post(
        "/api/catalogue/hubs",
        {"name": "East Sussex Early Years Hub", "region": "South East"},
        catalogue.admin(),
    )
    assert again.status_code == 409
    lead = catalogue.lead(hub["id"])
    assert (
        catalogue.post("/api/catalogue/hubs", {"name": "Mine", "region": "North"}, lead).status_code
        == 403
    )
    assert (
        catalogue.post("/api/catalogue/hubs", {"name": "Mine", "region": "North"}).status_code
        == 401
    )


def test_lead_creates_a_draft_event_with_every_field(catalogue: CatalogueApp) -> None:
    hub = catalogue.hub()
    event = catalogue.event(
        hub["id"],
        format="hybrid",
        online_url="https://meet.example.org/maths",
        price_pence=1500,
        funded_places=5,
        cost_per_funded_place_pence=1200,
        cpd_hours=1.5,
        topics=["mathematics", "send"],
    )
    assert event["status"] == "draft"
    assert event["hub_name"] == hub["name"]
    for key, value in {
        "kind": "training",
        "format": "hybrid",
        "audience": ["childminder", "nursery"],
        "topics": ["mathematics", "send"],
        "cpd_hours": 1.5,
        "price_pence": 1500,
        "funded_places": 5,
        "cost_per_funded_place_pence": 1200,
        "capacity": 20,
        "venue": "Hub room 1, 1 High Street, Lewes",
        "online_url": "https://meet.example.org/maths",
        "sessions": [],
    }.items():
        assert event[key] == value, key


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"kind": "party"}, "kind"),
        ({"format": "telepathy"}, "format"),
        ({"audience": ["parents"]}, "audience.0"),
        ({"audience": []}, "audience"),
        ({"audience": ["nursery", "nursery"]}, "audience"),
        ({"topics": ["Not A Slug!"]}, "topics.0"),
        ({"capacity": 0}, "capacity"),
        ({"capacity": "12"}, "capacity"),
        ({"capacity": 10**12}, "capacity"),
        ({"cpd_hours": 0}, "cpd_hours"),
        ({"cpd_hours": 500}, "cpd_hours"),
        ({"price_pence": -1}, "price_pence"),
        ({"price_pence": 9.5}, "price_pence"),
        ({"title": "x" * 201}, "title"),
        ({"summary": "x" * 501}, "summary"),
        ({"description": "x" * 10_001}, "description"),
        ({"venue": "x" * 301}, "venue"),
        ({"online_url": "javascript:alert(1)", "format": "online"}, "online_url"),
        ({"format": "online", "online_url": None}, "online_url"),
        ({"format": "in_person", "venue": None}, "venue"),
        ({"format": "hybrid", "online_url": None}, "online_url"),
        ({"format": "hybrid", "venue": "  ", "online_url": "https://x.example.org"}, "venue"),
        ({"hub_id": "not-a-uuid"}, "hub_id"),
        ({"title": "Maths\x00 in play"}, "title"),  # PostgreSQL would refuse the NUL
        ({"summary": "bell\x07"}, "summary"),
        ({"topics": ["send\n"]}, "topics"),
        ({"cpd_hours": float("nan")}, "cpd_hours"),
    ],
)
def test_event_validation_is_a_422_naming_the_field(
    catalogue: CatalogueApp, overrides: dict, field: str
) -> None:
    hub = catalogue.hub()
    resp = catalogue.post(
        "/api/catalogue/events", {**event_body(hub["id"]), **overrides}, catalogue.admin()
    )
    assert resp.status_code == 422, resp.get_json()
    assert resp.mimetype == "application/problem+json"
    assert field.split(".")[0] in resp.get_json()["errors"], resp.get_json()


def test_unknown_hub_and_huge_bodies(catalogue: CatalogueApp) -> None:
    resp = catalogue.post("/api/catalogue/events", event_body(uuid.uuid4()), catalogue.admin())
    assert resp.status_code == 422 and "hub_id" in resp.get_json()["errors"]
    hub = catalogue.hub()
    huge = catalogue.post(
        "/api/catalogue/events",
        event_body(hub["id"], description="x" * 2_000_000),
        catalogue.admin(),
    )
    assert huge.status_code == 413
    not_json = catalogue.client.post(
        "/api/catalogue/events",
        data="{nope",
        headers={**catalogue.admin(), "Content-Type": "application/json"},
    )
    assert 400 <= not_json.status_code < 500


def test_a_lead_cannot_touch_another_hubs_events(catalogue: CatalogueApp) -> None:
    mine, theirs = catalogue.hub(), catalogue.hub()
    event = catalogue.event(theirs["id"])
    (session,) = catalogue.sessions(event)
    catalogue.publish(event)
    me = catalogue.lead(mine["id"])
    eid, sid = event["id"], session["id"]
    attempts = [
        catalogue.post("/api/catalogue/events", event_body(theirs["id"]), me),
        catalogue.patch(f"/api/catalogue/events/{eid}", {"title": "Mine now"}, me),
        catalogue.post(
            f"/api/catalogue/events/{eid}/sessions",
            {"starts_at": session["starts_at"], "ends_at": session["ends_at"]},
            me,
        ),
        catalogue.post(f"/api/catalogue/events/{eid}/publish", None, me),
        catalogue.post(f"/api/catalogue/events/{eid}/cancel", {"reason": "x"}, me),
        catalogue.get(f"/api/catalogue/events/{eid}/history", me),
        catalogue.patch(f"/api/catalogue/sessions/{sid}", {"capacity": 3}, me),
        catalogue.post(f"/api/catalogue/sessions/{sid}/cancel", {"reason": "x"}, me),
    ]
    assert [r.status_code for r in attempts] == [403] * len(attempts)
    practitioner = catalogue.practitioner()
    assert (
        catalogue.patch(f"/api/catalogue/sessions/{sid}", {"capacity": 3}, practitioner).status_code
        == 403
    )
    assert catalogue.patch(f"/api/catalogue/sessions/{sid}", {"capacity": 3}).status_code == 401
    # Nothing changed.
    assert catalogue.get(f"/api/catalogue/sessions/{sid}").get_json()["capacity"] == 20


def test_drafts_are_visible_only_to_their_hubs_leads(catalogue: CatalogueApp) -> None:
    hub, other = catalogue.hub(), catalogue.hub()
    event = catalogue.event(hub["id"])
    (session,) = catalogue.sessions(event)
    for headers in ({}, catalogue.practitioner(), catalogue.lead(other["id"])):
        assert catalogue.get(f"/api/catalogue/events/{event['id']}", headers).status_code == 404
        assert catalogue.get(f"/api/catalogue/sessions/{session['id']}", headers).status_code == 404
    # Another hub's lead cannot even find out the draft exists by changing it.
    assert (
        catalogue.patch(
            f"/api/catalogue/events/{event['id']}", {"title": "Hello"}, catalogue.lead(other["id"])
        ).status_code
        == 404
    )
    assert catalogue.get("/api/catalogue/sessions").get_json()["items"] == []
    seen = catalogue.get(f"/api/catalogue/events/{event['id']}", catalogue.lead(hub["id"]))
    assert seen.status_code == 200 and seen.get_json()["sessions"][0]["id"] == session["id"]
    assert (
        catalogue.get(f"/api/catalogue/sessions/{session['id']}", catalogue.admin()).status_code
        == 200
    )


def test_publish_needs_a_session_and_is_idempotent(catalogue: CatalogueApp) -> None:
    hub = catalogue.hub()
    event = catalogue.event(hub["id"])
    lead = catalogue.lead(hub["id"])
    resp = catalogue.post(f"/api/catalogue/events/{event['id']}/publish", None, lead)
    assert resp.status_code == 409
    catalogue.sessions(event)
    first = catalogue.publish(event)
    assert first["status"] == "published" and first["published_at"]
    assert catalogue.publish(event)["published_at"] == first["published_at"]
    assert len(catalogue.outbox("catalogue.session.scheduled")) == 1
    assert len(catalogue.get("/api/catalogue/sessions").get_json()["items"]) == 1
    assert catalogue.get(f"/api/catalogue/events/{event['id']}").status_code == 200


def test_edit_event_and_cancel_it(catalogue: CatalogueApp) -> None:
    hub = catalogue.hub()
    event = catalogue.event(hub["id"])
    catalogue.sessions(event)
    catalogue.sessions(event)
    catalogue.publish(event)
    lead = catalogue.lead(hub["id"])
    url = f"/api/catalogue/events/{event['id']}"
    bad = catalogue.patch(url, {"format": "online"}, lead)  # no online_url yet
    assert bad.status_code == 422 and "online_url" in bad.get_json()["errors"]
    ok = catalogue.patch(url, {"title": "Maths in the garden", "cpd_hours": 2.5}, lead)
    assert ok.status_code == 200 and ok.get_json()["title"] == "Maths in the garden"
    listed = catalogue.get("/api/catalogue/sessions").get_json()["items"]
    assert {i["title"] for i in listed} == {"Maths in the garden"}
    cancelled = catalogue.post(f"{url}/cancel", {"reason": "Trainer unwell"}, lead)
    body = cancelled.get_json()
    assert body["status"] == "cancelled" and body["cancel_reason"] == "Trainer unwell"
    assert {s["status"] for s in body["sessions"]} == {"cancelled"}
    assert catalogue.get("/api/catalogue/sessions").get_json()["items"] == []
    assert catalogue.post(f"{url}/cancel", {"reason": "again"}, lead).status_code == 409
    assert catalogue.patch(url, {"title": "Back again"}, lead).status_code == 409
    assert catalogue.post(f"{url}/publish", None, lead).status_code == 409
    assert catalogue.post(f"{url}/cancel", {}, lead).status_code == 422


def test_tokens_are_checked(catalogue: CatalogueApp) -> None:
    hub = catalogue.hub()
    for headers in ({"Authorization": "Basic abc"}, bearer("not.a.jwt")):
        resp = catalogue.post("/api/catalogue/events", event_body(hub["id"]), headers)
        assert resp.status_code == 401


def test_event_list_shows_drafts_only_to_their_leads(catalogue: CatalogueApp) -> None:
    hub, other = catalogue.hub(), catalogue.hub()
    draft = catalogue.event(hub["id"], title="Draft one")
    published = catalogue.event(hub["id"], title="Published one")
    catalogue.sessions(published)
    catalogue.publish(published)
    elsewhere = catalogue.event(other["id"], title="Other hub draft")

    def titles(headers: dict[str, str] | None = None, query: str = "") -> list[str]:
        resp = catalogue.get(f"/api/catalogue/events?limit=1{query}", headers)
        assert resp.status_code == 200, resp.get_json()
        out, body = [], resp.get_json()
        out += [e["title"] for e in body["items"]]
        while body["next_cursor"]:
            body = catalogue.get(
                f"/api/catalogue/events?limit=1{query}&cursor={body['next_cursor']}", headers
            ).get_json()
            out += [e["title"] for e in body["items"]]
        return out

    assert titles() == ["Published one"]
    assert titles(catalogue.lead(hub["id"])) == ["Draft one", "Published one"]
    assert titles(catalogue.lead(other["id"])) == ["Published one", "Other hub draft"]
    assert len(titles(catalogue.admin())) == 3
    assert titles(catalogue.admin(), f"&hub_id={hub['id']}&status=draft") == ["Draft one"]
    assert draft["id"] and elsewhere["id"]
    assert catalogue.get("/api/catalogue/events?status=gone").status_code == 422
    assert catalogue.get("/api/catalogue/events?cursor=zz").status_code == 422


def test_events_come_with_their_sessions_only_when_asked(catalogue: CatalogueApp) -> None:
    """A programme page lists every event with its sessions in one call (web/programme.py)."""
    hub = catalogue.hub()
    lead = catalogue.lead(hub["id"])
    draft = catalogue.event(hub["id"], title="Draft series")
    made = catalogue.sessions(draft, rrule="FREQ=WEEKLY;COUNT=2")
    empty = catalogue.event(hub["id"], title="No sessions yet")
    plain = catalogue.get(f"/api/catalogue/events?hub_id={hub['id']}", lead).get_json()
    assert all("sessions" not in e for e in plain["items"])
    resp = catalogue.get(f"/api/catalogue/events?hub_id={hub['id']}&with_sessions=true", lead)
    assert resp.status_code == 200, resp.get_json()
    by_id = {e["id"]: e for e in resp.get_json()["items"]}
    assert [s["id"] for s in by_id[draft["id"]]["sessions"]] == [s["id"] for s in made]
    assert by_id[empty["id"]]["sessions"] == []
    public = catalogue.get(f"/api/catalogue/events?hub_id={hub['id']}&with_sessions=true")
    assert public.get_json()["items"] == []  # drafts stay hidden, sessions and all


def test_events_newest_first_page_through_every_event_once(catalogue: CatalogueApp) -> None:
    """A hub lead's programme shows what was made last first (gateway/web/programme.py)."""
    hub = catalogue.hub()
    lead = catalogue.lead(hub["id"])
    made = [catalogue.event(hub["id"], title=f"Event number {i}")["id"] for i in range(5)]
    seen: list[str] = []
    cursor = ""
    while True:
        query = f"/api/catalogue/events?hub_id={hub['id']}&order=newest&limit=2"
        body = catalogue.get(query + (f"&cursor={cursor}" if cursor else ""), lead).get_json()
        seen += [e["id"] for e in body["items"]]
        if not body["next_cursor"]:
            break
        cursor = body["next_cursor"]
    assert seen == made[::-1]
    assert catalogue.get("/api/catalogue/events?order=sideways").status_code == 422


@pytest.mark.parametrize("title", ["Early maths\nBcc: x@example.org", "Maths\x00", "A\u2028B"])
def test_control_characters_in_a_title_are_a_422_and_change_nothing(
    catalogue: CatalogueApp, title: str
) -> None:
    hub = catalogue.hub()
    lead = catalogue.lead(hub["id"])
    resp = catalogue.post("/api/catalogue/events", event_body(hub["id"], title=title), lead)
    assert resp.status_code == 422, resp.get_json()
    assert set(resp.get_json()["errors"]) == {"title"}
    listed = catalogue.client.get(f"/api/catalogue/events?hub_id={hub['id']}", headers=lead)
    assert listed.get_json()["items"] == []


def test_a_lone_surrogate_in_a_title_is_a_400_problem(catalogue: CatalogueApp) -> None:
    hub = catalogue.hub()
    body = json.dumps(event_body(hub["id"], title="TITLE")).replace("TITLE", "Maths \\ud800")
    resp = catalogue.client.post(
        "/api/catalogue/events",
        data=body.encode(),
        content_type="application/json",
        headers=catalogue.lead(hub["id"]),
    )
    assert resp.status_code == 400, resp.get_json()
    assert resp.get_json()["type"] == "urn:eyhub:problem:invalid-json"
