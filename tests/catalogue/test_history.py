"""The audit trail: who created, published, rescheduled or cancelled what, and when."""

from __future__ import annotations

from tests.catalogue.conftest import CatalogueApp, future
from tests.support.tokens import bearer


def test_history_records_every_change_with_its_actor(catalogue: CatalogueApp) -> None:
    hub = catalogue.hub()
    lead_token = catalogue.token(roles=("hub_lead",), hub_ids=(hub["id"],))
    lead = bearer(lead_token)
    event = catalogue.event(hub["id"])
    (session,) = catalogue.sessions(event)
    catalogue.publish(event)
    url = f"/api/catalogue/sessions/{session['id']}"
    assert catalogue.patch(url, {"starts_at": future(days=30).isoformat()}, lead).status_code == 200
    assert catalogue.patch(url, {"capacity": 9}, lead).status_code == 200
    assert catalogue.post(f"{url}/cancel", {"reason": "Hall booked twice"}, lead).status_code == 200
    resp = catalogue.get(f"/api/catalogue/events/{event['id']}/history", lead)
    assert resp.status_code == 200
    items = resp.get_json()["items"]
    assert [i["action"] for i in items] == [
        "created",
        "sessions_added",
        "published",
        "rescheduled",
        "session_changed",
        "session_cancelled",
    ]
    assert items[0]["actor_name"] == "Test Person"
    assert items[3]["session_id"] == session["id"]
    assert items[3]["details"]["old_starts_at"].startswith(session["starts_at"][:19])
    assert items[4]["details"] == {
        "changes": ["capacity"],
        "sequence": 2,
        "old_capacity": 20,
        "new_capacity": 9,
    }
    assert items[5]["details"]["reason"] == "Hall booked twice"
    stamps = [i["at"] for i in items]
    assert stamps == sorted(stamps)


def test_history_is_for_the_hubs_leads(catalogue: CatalogueApp) -> None:
    hub = catalogue.hub()
    session = catalogue.published_session(hub["id"])
    url = f"/api/catalogue/events/{session['event_id']}/history"
    assert catalogue.get(url).status_code == 401
    assert catalogue.get(url, catalogue.practitioner()).status_code == 403
    assert catalogue.get(url, catalogue.lead(catalogue.hub()["id"])).status_code == 403
    assert catalogue.get(url, catalogue.admin()).status_code == 200
