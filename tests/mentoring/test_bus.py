"""Mentoring's events reach a consumer over the real bus, each applied once even when the
relay publishes every one of them twice (issue 11, "bus tests"; both backends)."""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update

from shared.events import mentoring as events
from shared.messaging import Event
from shared.messaging.broker import connect
from shared.messaging.inbox import Consumer, Registry
from shared.messaging.models import OutboxMessage
from shared.messaging.outbox import Relay
from shared.messaging.testing import wait_for_outbox_drained, wait_until
from shared.messaging.topology import Topology, subscriptions_from
from tests.mentoring.conftest import MentoringApp

TYPES = tuple(events.SCHEMAS)


@pytest.fixture
def bus(mentoring: MentoringApp) -> Iterator[list[Event]]:
    """Relay the mentoring outbox and consume it on a test queue; yields what was applied
    (the consumer's inbox drops a message it has already applied)."""
    settings = mentoring.settings
    registry = Registry("mentoringtest")
    applied: list[Event] = []

    @registry.handles(*TYPES, queue="all")
    def _record(_s: Any, event: Event, _ctx: Any) -> None:
        applied.append(event)

    topology = Topology(settings, subscriptions_from([registry]))
    relay = Relay("mentoring", settings, mentoring.db, topology)
    consumer = Consumer(
        "mentoringtest", settings, mentoring.db, topology=topology, registry=registry
    )
    stop = threading.Event()

    def relay_loop() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                relay.publish_pending()
            stop.wait(0.05)

    threads = [
        threading.Thread(target=relay_loop, daemon=True),
        threading.Thread(target=consumer.run, args=(stop,), daemon=True),
    ]
    for t in threads:
        t.start()
    try:
        yield applied
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        relay.close()
        if settings.bus_namespace:
            with connect(settings) as conn:
                topology.delete(conn.channel())


def test_match_events_arrive_once_even_when_published_twice(
    mentoring: MentoringApp, bus: list[Event]
) -> None:
    mentor = mentoring.mentor()
    assert mentoring.put_profile(mentor).status_code == 200
    mentee = mentoring.practitioner()
    assert mentoring.ask(mentee).status_code == 201
    (match,) = mentoring.run(mentoring.lead()).get_json()["matches"]
    assert mentoring.act(mentor, match["id"], "accept").status_code == 200
    closed = mentoring.act(mentor, match["id"], "close", {"outcome": "goals_met", "summary": "."})
    assert closed.status_code == 200
    expected = [events.MATCH_PROPOSED, events.MATCH_ACCEPTED, events.MATCH_CLOSED]

    wait_until(lambda: len(bus) >= 3, timeout=30, what="the three match events")
    wait_for_outbox_drained(mentoring.db)
    with mentoring.db.transaction() as s:  # the relay publishes every row a second time
        s.execute(update(OutboxMessage).values(sent_at=None))
    wait_for_outbox_drained(mentoring.db)
    # A later event, consumed in order after the twins: by then every twin was seen.
    other = mentoring.practitioner("Kirsty McBride")
    assert mentoring.ask(other).status_code == 201
    assert mentoring.run(mentoring.lead()).status_code == 201
    wait_until(lambda: len(bus) >= 4, timeout=30, what="the sentinel event")

    assert [e.type for e in bus[:3]] == expected
    assert all(str(e.data["match_id"]) == match["id"] for e in bus[:3])
    counts = collections.Counter(str(e.id) for e in bus)
    assert set(counts.values()) == {1}, counts
