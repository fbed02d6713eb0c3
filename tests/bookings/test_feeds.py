"""Calendar feed management: create (URL once), list, revoke; who may make a hub feed."""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from services.bookings.models import CalendarFeed
from tests.bookings.conftest import HUB, OTHER_HUB, BookingsApp, future
from tests.support.icaljs import parse_with_icaljs


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
    # Idempotent: revoking again is a success, and still nobody else's business.
    assert bookings_app.client.delete(url, headers=bookings_app.headers(alice)).status_code == 204
    assert bookings_app.client.delete(url, headers=bookings_app.headers(bob)).status_code == 404
    missing = f"/api/bookings/calendar-feeds/{uuid.uuid4()}"
    assert (
        bookings_app.client.delete(missing, headers=bookings_app.headers(alice)).status_code == 404
    )
    listed = bookings_app.client.get(
        "/api/bookings/calendar-feeds", headers=bookings_app.headers(alice)
    ).get_json()
    assert listed["items"] == []


# -- the feed itself ------------------------------------------------------------------
def _new_feed(bookings_app: BookingsApp, token: str, **body: object) -> str:
    resp = bookings_app.client.post(
        "/api/bookings/calendar-feeds",
        json={"scope": "me", **body},
        headers=bookings_app.headers(token),
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()["url"].removeprefix(bookings_app.settings.public_url)


def test_my_feed_is_stable_revalidates_and_follows_changes(bookings_app: BookingsApp) -> None:
    token = bookings_app.token()
    one = bookings_app.add_session(title="Session one")
    two = bookings_app.add_session(title="Session two", starts_at=future(days=9))
    full = bookings_app.add_session(title="Full one", capacity=0)
    first = bookings_app.book(token, one["id"]).get_json()["id"]
    bookings_app.book(token, two["id"])
    bookings_app.book(token, full["id"])
    bookings_app.book(bookings_app.token(), one["id"])  # someone else's: not in my feed
    path = _new_feed(bookings_app, token)

    resp = bookings_app.client.get(path)
    assert resp.status_code == 200
    assert resp.mimetype == "text/calendar"
    assert "private" in resp.headers["Cache-Control"]
    assert resp.headers["ETag"] and resp.headers["Last-Modified"]
    cal = parse_with_icaljs(resp.data)
    assert cal["method"] == "PUBLISH" and cal["calname"] == "eyhub: my sessions"
    assert cal["refresh_interval"] is not None
    summaries = sorted(e["summary"] for e in cal["events"])
    assert summaries == ["Session one", "Session two", "Waiting list (1): Full one"]
    assert {e["status"] for e in cal["events"]} == {"CONFIRMED", "TENTATIVE"}
    assert bookings_app.client.get(path).data == resp.data  # stable bytes

    again = bookings_app.client.get(path, headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    since = bookings_app.client.get(
        path, headers={"If-Modified-Since": resp.headers["Last-Modified"]}
    )
    assert since.status_code == 304

    bookings_app.client.post(f"/api/bookings/{first}/cancel", headers=bookings_app.headers(token))
    changed = bookings_app.client.get(path, headers={"If-None-Match": resp.headers["ETag"]})
    assert changed.status_code == 200 and changed.headers["ETag"] != resp.headers["ETag"]
    events = {e["summary"]: e for e in parse_with_icaljs(changed.data)["events"]}
    cancelled = events["Cancelled: Session one"]
    assert cancelled["status"] == "CANCELLED" and cancelled["sequence"] == 1
    uid = f"booking-{first}@{bookings_app.settings.public_host}"
    assert cancelled["uid"] == uid  # the same event the invite put in their calendar


def test_feed_window_and_past_cancellations(bookings_app: BookingsApp) -> None:
    user = uuid.uuid4()
    token = bookings_app.token(user)
    recent = bookings_app.add_session(title="Recent")
    old = bookings_app.add_session(title="Old")
    gone = bookings_app.add_session(title="Cancelled and past")
    for sess in (recent, old, gone):
        bookings_app.book(token, sess["id"])
    cancel_id = next(b.id for b in bookings_app.bookings(gone["id"]))
    bookings_app.client.post(
        f"/api/bookings/{cancel_id}/cancel", headers=bookings_app.headers(token)
    )
    bookings_app.set_past(recent["id"], hours_ago=24 * 30)
    bookings_app.set_past(old["id"], hours_ago=24 * 100)
    bookings_app.set_past(gone["id"], hours_ago=24 * 2)
    path = _new_feed(bookings_app, token)
    events = parse_with_icaljs(bookings_app.client.get(path).data)["events"]
    assert [e["summary"] for e in events] == ["Recent"]


def test_hub_feed_shows_every_session_with_counts(bookings_app: BookingsApp) -> None:
    lead = bookings_app.lead_token()
    sess = bookings_app.add_session(capacity=1, title="Hub session")
    bookings_app.add_session(hub_id=OTHER_HUB, title="Elsewhere")
    for _ in range(3):
        bookings_app.book(bookings_app.token(), sess["id"])
    path = _new_feed(bookings_app, lead, scope="hub", hub_id=str(HUB))
    cal = parse_with_icaljs(bookings_app.client.get(path).data)
    assert cal["calname"] == "eyhub: North Hub sessions"
    (event,) = cal["events"]
    assert event["uid"] == f"session-{sess['id']}@{bookings_app.settings.public_host}"
    assert "Booked: 1 of 1; waiting list: 2" in event["description"]


def test_revoked_and_unknown_feeds_are_404(bookings_app: BookingsApp) -> None:
    token = bookings_app.token()
    resp = bookings_app.client.post(
        "/api/bookings/calendar-feeds", json={"scope": "me"}, headers=bookings_app.headers(token)
    )
    path = resp.get_json()["url"].removeprefix(bookings_app.settings.public_url)
    assert bookings_app.client.get(path).status_code == 200
    bookings_app.client.delete(
        f"/api/bookings/calendar-feeds/{resp.get_json()['id']}",
        headers=bookings_app.headers(token),
    )
    assert bookings_app.client.get(path).status_code == 404
    assert bookings_app.client.get("/calendar/feeds/not-a-token.ics").status_code == 404
    assert bookings_app.client.get("/calendar/feeds/" + "x" * 500 + ".ics").status_code == 404


def test_feed_tokens_never_reach_the_logs(
    bookings_app: BookingsApp, caplog: pytest.LogCaptureFixture
) -> None:
    token = bookings_app.token()
    path = _new_feed(bookings_app, token)
    secret = path.removeprefix("/calendar/feeds/").removesuffix(".ics")
    with caplog.at_level(logging.DEBUG):
        bookings_app.client.get(path)
        bookings_app.client.get(path.replace(secret, secret[:-2] + "zz"))
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "/calendar/feeds/[redacted]" in text
    assert secret not in text and secret[:-2] not in text


# -- feeds follow their owner; admins and hub leads can find and revoke them ------------
def _account(bookings_app: BookingsApp, user_id: str, **state: object) -> None:
    """What the identity replica learns from the gateway's identity.* events."""
    from datetime import UTC, datetime

    from shared.identity import apply_state, state_event

    values: dict[str, Any] = {
        "user_id": user_id,
        "is_active": True,
        "roles": ["practitioner"],
        "hub_ids": [],
        "tokens_valid_after": None,
        "changed_at": datetime.now(UTC),
        **state,
    }
    with bookings_app.db.transaction() as s:
        apply_state(s, state_event(**values))


def test_a_deactivated_owners_feed_answers_404(bookings_app: BookingsApp) -> None:
    user = str(uuid.uuid4())
    path = _new_feed(bookings_app, bookings_app.token(user))
    assert bookings_app.client.get(path).status_code == 200
    _account(bookings_app, user, is_active=False)
    assert bookings_app.client.get(path).status_code == 404
    _account(bookings_app, user, is_active=True)  # reactivated: the feed is theirs again
    assert bookings_app.client.get(path).status_code == 200


def test_a_hub_feed_ends_when_its_creator_no_longer_leads_the_hub(
    bookings_app: BookingsApp,
) -> None:
    lead = str(uuid.uuid4())
    token = bookings_app.token(lead, roles=("hub_lead",), hub_ids=(HUB,))
    path = _new_feed(bookings_app, token, scope="hub", hub_id=str(HUB))
    assert bookings_app.client.get(path).status_code == 200
    _account(bookings_app, lead, roles=["hub_lead"], hub_ids=[str(OTHER_HUB)])
    assert bookings_app.client.get(path).status_code == 404


def test_admins_and_hub_leads_find_and_revoke_feeds(bookings_app: BookingsApp) -> None:
    url = "/api/bookings/calendar-feeds"
    alice = bookings_app.token()
    _new_feed(bookings_app, alice)
    lead_token = bookings_app.lead_token()
    hub_feed = _new_feed(bookings_app, lead_token, scope="hub", hub_id=str(HUB))
    admin = bookings_app.headers(bookings_app.token(roles=("admin",)))
    everyone = bookings_app.client.get(url, query_string={"everyone": "true"}, headers=admin)
    assert everyone.status_code == 200 and len(everyone.get_json()["items"]) == 2

    # A practitioner cannot look at anyone else's feeds; a lead only at their hub's.
    practitioner = bookings_app.headers(bookings_app.token())
    for query in ({"everyone": "true"}, {"hub_id": str(HUB)}, {"user_id": str(uuid.uuid4())}):
        assert (
            bookings_app.client.get(url, query_string=query, headers=practitioner).status_code
            == 403
        )
    other_lead = bookings_app.headers(bookings_app.lead_token(OTHER_HUB))
    assert (
        bookings_app.client.get(
            url, query_string={"hub_id": str(HUB)}, headers=other_lead
        ).status_code
        == 403
    )

    # A co-lead of the hub finds the hub's feed and revokes it; its URL answers 404.
    co_lead = bookings_app.headers(bookings_app.lead_token())
    hub_feeds = bookings_app.client.get(url, query_string={"hub_id": str(HUB)}, headers=co_lead)
    (item,) = hub_feeds.get_json()["items"]
    assert bookings_app.client.delete(f"{url}/{item['id']}", headers=other_lead).status_code == 404
    assert bookings_app.client.delete(f"{url}/{item['id']}", headers=co_lead).status_code == 204
    assert bookings_app.client.get(hub_feed).status_code == 404

    # An admin revokes a practitioner's feed.
    mine = bookings_app.client.get(url, headers=bookings_app.headers(alice)).get_json()["items"]
    assert bookings_app.client.delete(f"{url}/{mine[0]['id']}", headers=admin).status_code == 204
    assert (
        bookings_app.client.get(url, headers=bookings_app.headers(alice)).get_json()["items"] == []
    )
