"""Every catalogue state change reaches the bus: relayed from the outbox and consumed.

A test consumer (its own queue bound to every ``catalogue.*`` type, the real relay,
consumer and schema registry) receives what the API wrote, in order, and each payload
loads through the shared schema, so bookings can rely on it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from shared.events import catalogue as events
from shared.messaging import Event
from shared.messaging.broker import connect
from shared.messaging.inbox import Consumer, Registry
from shared.messaging.outbox import Relay
from shared.messaging.testing import wait_until
from shared.messaging.topology import Topology, subscriptions_from
from tests.catalogue.conftest import CatalogueApp, future

TYPES = tuple(events.SCHEMAS)


@pytest.fixture
def bus(catalogue: CatalogueApp) -> Iterator[list[Event]]:
    """Relay the catalogue's outbox and consume it on a test queue; yields what arrived."""
    settings = catalogue.settings
    registry = Registry("cataloguetest")
    received: list[Event] = []

    @registry.handles(*TYPES, queue="all")
    def _record(_s: Any, event: Event, _ctx: Any) -> None:
        received.append(event)

    topology = Topology(settings, subscriptions_from([registry]))

    relay = Relay("catalogue", settings, catalogue.db, topology)
    consumer = Consumer(
        "cataloguetest", settings, catalogue.db, topology=topology, registry=registry
    )
    stop = threading.Event()

    def relay_loop(stop: threading.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                relay.publish_pending()
            stop.wait(0.05)

    threads = [
        threading.Thread(target=relay_loop, args=(stop,), daemon=True),
        threading.Thread(target=consumer.run, args=(stop,), daemon=True),
    ]
    for t in threads:
        t.start()
    try:
        yield received
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        relay.close()
        if catalogue.settings.bus_namespace:
            with connect(settings) as conn:
                topology.delete(conn.channel())


def test_every_state_change_is_consumed(catalogue: CatalogueApp, bus: list[Event]) -> None:
    hub = catalogue.hub()
    lead = catalogue.lead(hub["id"])
    event = catalogue.event(hub["id"])
    first, second = catalogue.sessions(event, rrule="FREQ=WEEKLY;COUNT=2")
    catalogue.publish(event)  # 2 x scheduled
    (third,) = catalogue.sessions(event, starts_at=future(days=40))  # scheduled
    url = f"/api/catalogue/sessions/{first['id']}"
    assert (
        catalogue.patch(url, {"starts_at": future(days=15, hour=14).isoformat()}, lead).status_code
        == 200
    )
    assert catalogue.patch(url, {"capacity": 12}, lead).status_code == 200
    assert catalogue.patch(url, {"venue": "Room 4"}, lead).status_code == 200
    cancel = catalogue.post(
        f"/api/catalogue/sessions/{second['id']}/cancel", {"reason": "Snow"}, lead
    )
    assert cancel.status_code == 200
    edit = catalogue.patch(f"/api/catalogue/events/{event['id']}", {"price_pence": 500}, lead)
    assert edit.status_code == 200
    gone = catalogue.post(
        f"/api/catalogue/events/{event['id']}/cancel", {"reason": "Funding"}, lead
    )
    assert gone.status_code == 200

    expected = [
        events.HUB_CREATED,  # the gateway learns hubs from it
        events.SESSION_SCHEDULED,
        events.SESSION_SCHEDULED,
        events.SESSION_SCHEDULED,
        events.SESSION_RESCHEDULED,
        events.SESSION_RESCHEDULED,
        events.SESSION_RESCHEDULED,
        events.SESSION_CANCELLED,
        events.EVENT_UPDATED,
        events.SESSION_CANCELLED,  # first
        events.SESSION_CANCELLED,  # third
        events.EVENT_UPDATED,
    ]
    assert [m.event_type for m in catalogue.outbox()] == expected
    wait_until(lambda: len(bus) >= len(expected), timeout=30, what="every event consumed")
    assert [e.type for e in bus] == expected
    assert {e.source for e in bus} == {"catalogue"}

    scheduled = [e.data for e in bus if e.type == events.SESSION_SCHEDULED]
    assert [str(d["session_id"]) for d in scheduled] == [first["id"], second["id"], third["id"]]
    snap = scheduled[0]
    assert snap["title"] == event["title"] and snap["hub_name"] == hub["name"]
    assert snap["capacity"] == 20 and snap["sequence"] == 0 and snap["event_status"] == "published"
    assert snap["starts_at"].tzinfo is not None

    moved, capacity, venue = (e.data for e in bus if e.type == events.SESSION_RESCHEDULED)
    assert moved["changes"] == ["times"] and moved["sequence"] == 1
    assert moved["old_starts_at"] == snap["starts_at"] and moved["starts_at"] != snap["starts_at"]
    assert capacity["changes"] == ["capacity"] and capacity["capacity"] == 12
    assert capacity["old_capacity"] == 20 and capacity["sequence"] == 2
    assert venue["venue"] == "Room 4" and venue["sequence"] == 3

    cancelled = [e.data for e in bus if e.type == events.SESSION_CANCELLED]
    assert [c["reason"] for c in cancelled] == ["Snow", "Funding", "Funding"]
    assert [c["event_cancelled"] for c in cancelled] == [False, True, True]
    assert cancelled[1]["sequence"] == 4  # after three changes, cancelling raises it again

    updated = [e.data for e in bus if e.type == events.EVENT_UPDATED]
    assert updated[0]["changed"] == ["price_pence"] and updated[0]["price_pence"] == 500
    assert updated[1]["event_status"] == "cancelled"
