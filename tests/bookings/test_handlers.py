"""Catalogue events through the real consumer path (inbox + handler in one transaction)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from eyhub.components import subscriptions
from services.bookings.handlers import handlers
from shared.db import utcnow
from shared.events import catalogue as ev
from shared.messaging.envelope import make_envelope
from shared.messaging.inbox import Dispatcher
from shared.messaging.topology import Topology
from tests.bookings.conftest import BookingsApp, session_snapshot


@pytest.fixture
def deliver(bookings_app: BookingsApp):  # type: ignore[no-untyped-def]
    """Deliver one catalogue event to the bookings consumer; returns the outcome."""
    settings = bookings_app.settings
    topology = Topology(settings, subscriptions())
    dispatcher = Dispatcher("bookings", settings, bookings_app.db, topology, handlers)
    queue = topology.queue_name("bookings", "catalogue-sessions")

    def send(event_type: str, data: dict[str, Any], *, message_id: uuid.UUID | None = None) -> str:
        body = make_envelope(
            id=message_id or uuid.uuid4(),
            event_type=event_type,
            version=1,
            occurred_at=utcnow(),
            source="catalogue",
            correlation_id=None,
            causation_id=None,
            data=data,
        )
        return dispatcher.receive(queue, body)

    return send


def event_data(snap: dict[str, Any], **more: Any) -> dict[str, Any]:
    """A catalogue.session.* payload (JSON form) for a test snapshot."""
    data = {
        "session_id": str(snap["id"]),
        "event_id": str(snap["event_id"]),
        "hub_id": str(snap["hub_id"]),
        "hub_name": snap["hub_name"],
        "title": snap["title"],
        "kind": snap["kind"],
        "format": snap["format"],
        "summary": snap["summary"],
        "audience": ["childminder"],
        "topics": snap["topics"],
        "cpd_hours": float(snap["cpd_hours"]),
        "price_pence": snap["price_pence"],
        "funded_places": 0,
        "cost_per_funded_place_pence": 0,
        "online_url": snap["online_url"],
        "event_status": snap["event_status"],
        "starts_at": snap["starts_at"].isoformat(),
        "ends_at": snap["ends_at"].isoformat(),
        "capacity": snap["capacity"],
        "sequence": snap["sequence"],
        "status": snap["status"],
        "venue": snap["venue"],
    }
    data.update(more)
    return data


def test_scheduled_event_replicates_and_redelivery_is_a_no_op(
    bookings_app: BookingsApp, deliver
) -> None:  # type: ignore[no-untyped-def]
    snap = session_snapshot(capacity=1)
    mid = uuid.uuid4()
    assert deliver(ev.SESSION_SCHEDULED, event_data(snap), message_id=mid) == "applied"
    assert deliver(ev.SESSION_SCHEDULED, event_data(snap), message_id=mid) == "duplicate"
    replica = bookings_app.replica(snap["id"])
    assert replica is not None and replica.capacity == 1 and replica.hub_name == "North Hub"
    assert bookings_app.book(bookings_app.token(), snap["id"]).get_json()["status"] == "confirmed"


def test_reschedule_capacity_raise_and_out_of_order(bookings_app: BookingsApp, deliver) -> None:  # type: ignore[no-untyped-def]
    snap = session_snapshot(capacity=1)
    deliver(ev.SESSION_SCHEDULED, event_data(snap))
    ids = [bookings_app.book(bookings_app.token(), snap["id"]).get_json()["id"] for _ in range(3)]
    new_start = snap["starts_at"] + timedelta(days=1)
    moved = event_data(
        snap,
        starts_at=new_start.isoformat(),
        ends_at=(new_start + timedelta(hours=2)).isoformat(),
        sequence=1,
        old_starts_at=snap["starts_at"].isoformat(),
        old_ends_at=snap["ends_at"].isoformat(),
        old_capacity=1,
        changes=["times"],
    )
    bigger = {**moved, "capacity": 2, "sequence": 2, "old_capacity": 1, "changes": ["capacity"]}
    assert deliver(ev.SESSION_RESCHEDULED, bigger) == "applied"
    assert deliver(ev.SESSION_RESCHEDULED, moved) == "applied"  # late, stale: ignored
    replica = bookings_app.replica(snap["id"])
    assert (replica.capacity, replica.sequence, replica.starts_at) == (2, 2, new_start)
    statuses = {str(b.id): b.status for b in bookings_app.bookings(snap["id"])}
    assert [statuses[i] for i in ids] == ["confirmed", "confirmed", "waitlisted"]
    first = next(b for b in bookings_app.bookings(snap["id"]) if str(b.id) == ids[0])
    assert first.invite_sequence == 1  # one update (the move), not two


def test_cancelled_event_cancels_bookings_and_early_cancel_leaves_a_tombstone(
    bookings_app: BookingsApp, deliver
) -> None:  # type: ignore[no-untyped-def]
    snap = session_snapshot()
    deliver(ev.SESSION_SCHEDULED, event_data(snap))
    bookings_app.book(bookings_app.token(), snap["id"])
    cancel = {
        "session_id": str(snap["id"]),
        "event_id": str(snap["event_id"]),
        "hub_id": str(snap["hub_id"]),
        "reason": "Venue flooded",
        "sequence": 0,
        "starts_at": snap["starts_at"].isoformat(),
        "cancelled_at": utcnow().isoformat(),
        "event_cancelled": False,
    }
    assert deliver(ev.SESSION_CANCELLED, cancel) == "applied"
    assert {b.status for b in bookings_app.bookings(snap["id"])} == {"cancelled"}

    early = session_snapshot()
    deliver(ev.SESSION_CANCELLED, {**cancel, "session_id": str(early["id"])})
    deliver(ev.SESSION_SCHEDULED, event_data(early))  # arrives after its cancellation
    assert bookings_app.replica(early["id"]).status == "cancelled"
    assert bookings_app.book(bookings_app.token(), early["id"]).status_code == 409


def test_event_updated_reaches_all_sessions_in_order(bookings_app: BookingsApp, deliver) -> None:  # type: ignore[no-untyped-def]
    snap = session_snapshot()
    deliver(ev.SESSION_SCHEDULED, event_data(snap))
    base = event_data(snap)
    for key in ("session_id", "starts_at", "ends_at", "sequence", "status"):
        base.pop(key)
    now = utcnow()
    newer = {
        **base,
        "title": "Renamed",
        "venue": "Elsewhere",
        "capacity": 10,
        "changed": ["title"],
        "changed_at": now.isoformat(),
    }
    older = {**newer, "title": "Old name", "changed_at": (now - timedelta(minutes=5)).isoformat()}
    assert deliver(ev.EVENT_UPDATED, newer) == "applied"
    assert deliver(ev.EVENT_UPDATED, older) == "applied"
    replica = bookings_app.replica(snap["id"])
    assert replica.title == "Renamed"
    assert replica.venue == snap["venue"]  # venue not among the changes: the session's stays
