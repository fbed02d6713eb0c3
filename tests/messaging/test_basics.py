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
