"""Hub-funded places, the bookings side of the saga (issue 13): a request holds the place
and asks the budget; its answer confirms the place or releases it, whatever crossed it."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from services.bookings import operations as ops
from shared.events import bookings as events
from shared.messaging.models import OutboxMessage
from tests.bookings.conftest import BookingsApp

FUNDED = {"funded_places": 5, "cost_per_funded_place_pence": 6000, "funding_line": "backfill"}


def _request(bapp: BookingsApp, token: str, session_id: Any, **headers: str) -> Any:
    return bapp.client.post(
        "/api/bookings",
        json={"session_id": str(session_id), "request_funding": True},
        headers=bapp.headers(token, **headers),
    )


def _outbox(bapp: BookingsApp, event_type: str) -> list[dict[str, Any]]:
    with bapp.db.read() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.event_type == event_type))
        return [r.data for r in rows]


def test_a_funding_request_holds_the_place_and_asks_the_budget(bookings_app: BookingsApp) -> None:
    bapp = bookings_app
    sess = bapp.add_session(capacity=2, price_pence=4500, funded_setting_types=[], **FUNDED)
    token = bapp.token()
    resp = _request(bapp, token, sess["id"], **{"Idempotency-Key": "fund-1"})
    assert resp.status_code == 201, resp.get_json()
    booking = resp.get_json()
    assert (booking["status"], booking["checkout_url"]) == ("pending_funding", None)
    replica = bapp.replica(sess["id"])
    assert replica is not None and replica.held_count == 1
    [asked] = _outbox(bapp, events.FUNDING_REQUESTED)
    assert asked["booking_id"] == booking["id"] and asked["amount_pence"] == 6000
    assert (asked["line"], asked["funded_places"], asked["setting_type"]) == (
        "backfill",
        5,
        "childminder",
    )
    assert bapp.mails() == []  # nothing to confirm yet
    # The same request again is the same booking; without funding it is another request.
    again = _request(bapp, token, sess["id"], **{"Idempotency-Key": "fund-1"})
    assert again.status_code == 200 and again.get_json()["id"] == booking["id"]
    other_body = bapp.book(token, sess["id"], **{"Idempotency-Key": "fund-1"})
    assert other_body.status_code == 422


def test_the_budget_commits_and_the_place_is_confirmed_funded_once(
    bookings_app: BookingsApp,
) -> None:
    bapp = bookings_app
    sess = bapp.add_session(**FUNDED)
    booking_id = uuid.UUID(_request(bapp, bapp.token(), sess["id"]).get_json()["id"])
    for _ in range(2):  # a redelivered answer changes nothing more
        with bapp.db.transaction() as s:
            ops.apply_funding_committed(s, bapp.settings, booking_id)
    booking = bapp.booking(booking_id)
    assert (booking.status, booking.funding) == ("confirmed", "funded")
    [mail] = bapp.mails()
    assert mail["Subject"].startswith("Funded place confirmed")
    assert "The hub is paying for it." in mail.get_body(("plain",)).get_content()
    assert [e["funding"] for e in _outbox(bapp, events.BOOKING_CONFIRMED)] == ["funded"]
    # A decline arriving after the commitment (out of order) cannot undo it.
    with bapp.db.transaction() as s:
        assert ops.apply_funding_declined(s, bapp.settings, booking_id, detail="late") is None
    assert bapp.booking(booking_id).status == "confirmed"


def test_a_decline_releases_the_place_to_the_waiting_list_and_says_why(
    bookings_app: BookingsApp,
) -> None:
    bapp = bookings_app
    sess = bapp.add_session(capacity=1, **FUNDED)
    asker = bapp.token()
    booking_id = uuid.UUID(_request(bapp, asker, sess["id"]).get_json()["id"])
    waiting = bapp.book(bapp.token(), sess["id"]).get_json()
    assert waiting["status"] == "waitlisted"
    why = "The hub's backfill money for 2026-27 is all committed."
    with bapp.db.transaction() as s:
        ops.apply_funding_declined(s, bapp.settings, booking_id, detail=why)
    assert bapp.booking(booking_id).status == "funding_declined"
    assert bapp.booking(waiting["id"]).status == "confirmed"  # free session: promoted
    replica = bapp.replica(sess["id"])
    assert replica is not None and (replica.held_count, replica.waitlist_count) == (1, 0)
    mail = bapp.mails(to=bapp.booking(booking_id).user_email)[-1]
    text = mail.get_body(("plain",)).get_content()
    assert mail["Subject"].startswith("No funded place") and why in text
    assert f"/sessions/{sess['id']}" in text
    # A commitment that crossed the decline is ignored (budget voids on cancellation).
    with bapp.db.transaction() as s:
        assert ops.apply_funding_committed(s, bapp.settings, booking_id) is None
    # Declined is an end: the practitioner may book again, without funding.
    assert bapp.book(asker, sess["id"]).get_json()["status"] == "waitlisted"


def test_requests_the_event_cannot_meet_are_refused_and_hold_nothing(
    bookings_app: BookingsApp,
) -> None:
    bapp = bookings_app
    unfunded = bapp.add_session()
    refused = _request(bapp, bapp.token(), unfunded["id"])
    assert refused.status_code == 409 and refused.get_json()["type"].endswith("no-funded-places")
    nurseries_only = bapp.add_session(funded_setting_types=["nursery"], **FUNDED)
    refused = _request(bapp, bapp.token(), nurseries_only["id"])  # the token's: childminder
    assert refused.status_code == 409
    assert refused.get_json()["type"].endswith("not-eligible-for-funding")
    full = bapp.add_session(capacity=1, **FUNDED)
    bapp.book(bapp.token(), full["id"])
    refused = _request(bapp, bapp.token(), full["id"])
    assert refused.status_code == 409 and refused.get_json()["type"].endswith("session-full")
    replica = bapp.replica(full["id"])
    assert replica is not None and (replica.held_count, replica.waitlist_count) == (1, 0)
    assert _outbox(bapp, events.FUNDING_REQUESTED) == []


def test_the_replica_keeps_what_funding_and_refunds_need_from_the_catalogue() -> None:
    """The fat event (and the read-through document) carry the event's funding line,
    eligible settings, cost per funded place and refund rule onto the replica."""
    from services.bookings.snapshots import snapshot_from_catalogue

    body = {
        "session_id": str(uuid.uuid4()),
        "event_id": str(uuid.uuid4()),
        "hub_id": str(uuid.uuid4()),
        "starts_at": "2027-01-12T10:00:00Z",
        "ends_at": "2027-01-12T12:00:00Z",
        "funded_places": 3,
        "cost_per_funded_place_pence": 4200,
        "funding_line": "training_delivery",
        "funded_setting_types": ["childminder"],
        "refund_days_before": 0,
    }
    snap = snapshot_from_catalogue(body)
    assert (
        snap["funded_places"],
        snap["cost_per_funded_place_pence"],
        snap["funding_line"],
        snap["funded_setting_types"],
        snap["refund_days_before"],
    ) == (3, 4200, "training_delivery", ["childminder"], 0)
    older = snapshot_from_catalogue(
        {
            k: v
            for k, v in body.items()
            if k in ("session_id", "event_id", "hub_id", "starts_at", "ends_at")
        }
    )
    assert (
        older["funding_line"],
        older["refund_days_before"],
        older["cost_per_funded_place_pence"],
    ) == ("backfill", 7, 0)
