"""Calendar feed management: create (URL once), list, revoke; who may make a hub feed."""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import select

from services.bookings.models import CalendarFeed
from tests.bookings.conftest import HUB, OTHER_HUB, BookingsApp


def test_feed_tokens_are_long_and_stored_only_hashed(bookings_app: BookingsApp) -> None:
    token = bookings_app.token()
    resp = bookings_app.client.post(
        "/api/bookings/calendar-feeds", json={"scope": "me"}, headers=bookings_app.headers(token)
    )
    assert resp.status_code == 201
    body = resp.get_json()
    prefix = f"{bookings_app.settings.public_url}/calendar/feeds/"
    assert body["url"].startswith(prefix) and body["url"].endswith(".ics")
    secret = body["url"][len(prefix) : -len(".ics")]
    assert len(secret) >= 22  # 128 bits in base64url; ours carries 256
    with bookings_app.db.transaction() as s:
        stored = s.scalars(select(CalendarFeed)).one()
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(stored.__dict__)
    listed = bookings_app.client.get(
        "/api/bookings/calendar-feeds", headers=bookings_app.headers(token)
    ).get_json()
    assert [f["id"] for f in listed["items"]] == [body["id"]]
    assert "url" not in listed["items"][0]


def test_hub_feeds_are_for_that_hubs_lead(bookings_app: BookingsApp) -> None:
    url = "/api/bookings/calendar-feeds"
    lead = bookings_app.headers(bookings_app.lead_token())
    ok = bookings_app.client.post(url, json={"scope": "hub", "hub_id": str(HUB)}, headers=lead)
    assert ok.status_code == 201 and ok.get_json()["hub_id"] == str(HUB)
    other = bookings_app.client.post(
        url, json={"scope": "hub", "hub_id": str(OTHER_HUB)}, headers=lead
    )
    assert other.status_code == 403
    practitioner = bookings_app.headers(bookings_app.token())
    assert (
        bookings_app.client.post(
            url, json={"scope": "hub", "hub_id": str(HUB)}, headers=practitioner
        ).status_code
        == 403
    )
    for bad in ({"scope": "hub"}, {"scope": "everyone"}, {}, {"scope": "me", "hub_id": str(HUB)}):
        assert bookings_app.client.post(url, json=bad, headers=lead).status_code == 422
    with bookings_app.db.transaction() as s:
        assert len(s.scalars(select(CalendarFeed)).all()) == 1


def test_revoking_is_owner_only(bookings_app: BookingsApp) -> None:
    alice, bob = bookings_app.token(), bookings_app.token()
    feed_id = bookings_app.client.post(
        "/api/bookings/calendar-feeds", json={"scope": "me"}, headers=bookings_app.headers(alice)
    ).get_json()["id"]
    url = f"/api/bookings/calendar-feeds/{feed_id}"
    assert bookings_app.client.delete(url, headers=bookings_app.headers(bob)).status_code == 404
    assert bookings_app.client.delete(url, headers=bookings_app.headers(alice)).status_code == 204
    assert bookings_app.client.delete(url, headers=bookings_app.headers(alice)).status_code == 404
    missing = f"/api/bookings/calendar-feeds/{uuid.uuid4()}"
    assert (
        bookings_app.client.delete(missing, headers=bookings_app.headers(alice)).status_code == 404
    )
    listed = bookings_app.client.get(
        "/api/bookings/calendar-feeds", headers=bookings_app.headers(alice)
    ).get_json()
    assert listed["items"] == []
