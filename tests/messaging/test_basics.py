"""Publish → relay → broker → consumer on both backends; duplicates; correlation."""

from __future__ import annotations

import uuid

from shared.messaging.testing import wait_for_handled
from tests.messaging import things
from tests.messaging.conftest import Bus


def test_event_crosses_services_once_with_its_correlation(bus: Bus) -> None:
    from shared.logs import correlation_id_var

    token = correlation_id_var.set("req-123")
    try:
        with bus.producer_db.transaction() as s:
            event_id = things.emit(s, "a", 1)
    finally:
        correlation_id_var.reset(token)
    bus.relay_thread()
    bus.consumer_thread()
    wait_for_handled(bus.consumer_db, message_id=event_id)
    rows = bus.applied()
    assert [(r.key, r.seq, r.correlation_id) for r in rows] == [("a", 1, "req-123")]
    assert rows[0].message_id == str(event_id)
    assert isinstance(event_id, uuid.UUID)


def test_events_published_by_a_handler_carry_the_correlation_and_causation(bus: Bus) -> None:
    from sqlalchemy import select

    from shared.logs import correlation_id_var
    from shared.messaging.models import OutboxMessage

    token = correlation_id_var.set("req-chain")
    try:
        with bus.producer_db.transaction() as s:
            parent = things.emit(s, "p", 1, "chain")
    finally:
        correlation_id_var.reset(token)
    bus.relay_thread()
    bus.consumer_thread()
    wait_for_handled(bus.consumer_db, message_id=parent)
    with bus.consumer_db.transaction() as s:
        child = s.scalar(select(OutboxMessage))
    assert child is not None and child.data["key"] == "p-child"
    assert (child.correlation_id, child.causation_id) == ("req-chain", str(parent))
