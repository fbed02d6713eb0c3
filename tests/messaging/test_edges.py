"""Edges: messages a consumer cannot understand, unroutable events, several relays,
RabbitMQ's dead-letter exchange, the topology, readiness and the producer's checks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kombu import Consumer, Producer
from marshmallow import Schema, fields
from sqlalchemy import select

from eyhub.components import COMPONENTS, subscriptions, worker_for
from shared import events
from shared.messaging import is_stale, publish
from shared.messaging.broker import connect
from shared.messaging.inbox import backoff_seconds
from shared.messaging.models import DeadLetter, OutboxMessage
from shared.messaging.outbox import Relay
from shared.messaging.testing import (
    wait_for_dead_letters,
    wait_for_handled,
    wait_for_outbox_drained,
    wait_until,
)
from shared.messaging.topology import Topology, definitions
from shared.web import create_component_app
from tests.messaging import things
from tests.messaging.conftest import Bus
from tests.support.backends import METRICS_AUTH

NOBODY = "test.nobody.listens"


class _Nobody(Schema):
    n = fields.Integer(required=True)


events.register(NOBODY, _Nobody)


def _raw_publish(bus: Bus, body: Any, **kwargs: Any) -> None:
    with connect(bus.settings) as conn:
        channel = conn.channel()
        bus.topology.declare(channel)
        Producer(channel).publish(
            body,
            exchange=bus.topology.events,
            routing_key=things.THING_CHANGED,
            delivery_mode=2,
            **kwargs,
        )


def _envelope(**over: Any) -> dict[str, Any]:
    import uuid

    env = {
        "id": str(uuid.uuid4()),
        "type": things.THING_CHANGED,
        "version": 1,
        "occurred_at": "2026-11-23T10:00:00Z",
        "source": "test",
        "correlation_id": None,
        "causation_id": None,
        "data": {"key": "raw", "seq": 1},
    }
    return {**env, **over}


def _letters(bus: Bus) -> dict[str, DeadLetter]:
    with bus.consumer_db.transaction() as s:
        return {row.reason: row for row in s.scalars(select(DeadLetter))}


def test_messages_the_consumer_cannot_understand_go_to_dead_letters_with_a_reason(
    bus: Bus,
) -> None:
    bus.consumer_thread()
    _raw_publish(bus, _envelope(version=99))
    _raw_publish(
        bus, b"\xff not json", content_type="application/octet-stream", content_encoding="binary"
    )
    _raw_publish(bus, _envelope(data={"key": "no-seq"}))
    good = _envelope(data={"key": "fine", "seq": 2})
    _raw_publish(bus, good)
    wait_for_handled(bus.consumer_db, message_id=good["id"])
    wait_for_dead_letters(bus.consumer_db, 3)
    letters = _letters(bus)
    assert set(letters) == {"unknown_event", "bad_envelope", "invalid_data"}
    assert "unknown version 99 of 'test.thing.changed'" in letters["unknown_event"].error
    assert "seq" in letters["invalid_data"].error
    assert [r.key for r in bus.applied()] == ["fine"]


def test_an_event_no_handler_takes_is_marked_sent_without_the_broker(bus: Bus) -> None:
    with bus.producer_db.transaction() as s:
        unheard = publish(s, NOBODY, {"n": 1})
        kept = things.emit(s, "k", 1)
    bus.relay_thread()
    bus.consumer_thread()
    wait_for_handled(bus.consumer_db, message_id=kept)
    wait_for_outbox_drained(bus.producer_db)
    with bus.producer_db.transaction() as s:
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.id == unheard))
    assert row is not None and row.sent_at is not None
    assert row.last_error is None and row.attempts == 0  # not an error: nobody listens


def test_an_event_the_broker_cannot_route_stays_in_the_outbox_and_others_flow(
    bus: Bus,
) -> None:
    """The relay's topology routes the type but the broker does not (a queue deleted by
    hand, a broker restored without its bindings): a fault, retried, not dropped."""
    believed = things.topology(bus.settings)
    believed.binds = lambda event_type: True  # type: ignore[method-assign]
    with bus.producer_db.transaction() as s:
        lost = publish(s, NOBODY, {"n": 1})
        kept = things.emit(s, "k", 1)
    relay = Relay(things.PRODUCER, bus.settings, bus.producer_db, believed)
    bus._thread("relay", relay.run)
    bus.consumer_thread()
    wait_for_handled(bus.consumer_db, message_id=kept)

    def noticed() -> OutboxMessage | None:
        with bus.producer_db.transaction() as s:
            row = s.scalar(select(OutboxMessage).where(OutboxMessage.id == lost))
            return row if row is not None and row.last_error else None

    row = wait_until(noticed, what="the relay to notice the unroutable event")
    assert row.sent_at is None and "no queue bound" in row.last_error and row.attempts >= 1


def test_two_relays_publish_each_row_once(bus: Bus) -> None:
    ids = []
    with bus.producer_db.transaction() as s:
        ids = [things.emit(s, f"r{i}", 1) for i in range(100)]
    first, second = bus.relay_thread(), bus.relay_thread()
    bus.consumer_thread()
    wait_for_outbox_drained(bus.producer_db)
    wait_for_handled(bus.consumer_db, message_id=ids[-1])
    assert first.published + second.published == 100
    assert len(bus.applied()) == 100


@pytest.mark.parametrize("backend", ["server"], indirect=True)
def test_what_rabbitmq_dead_letters_is_recorded_in_the_table(bus: Bus) -> None:
    env = _envelope()
    _raw_publish(bus, env)
    rejected: list[Any] = []

    def reject(message: Any) -> None:  # RabbitMQ routes it through the dead-letter exchange
        message.reject(requeue=False)
        rejected.append(message)

    with connect(bus.settings) as conn:
        queue = bus.topology.queue(bus.topology.subscription(things.CONSUMER, things.PURPOSE))
        with Consumer(conn.channel(), [queue], on_message=reject):
            wait_until(lambda: rejected or conn.drain_events(timeout=1), what="the message")
    bus.consumer_thread()
    wait_for_dead_letters(bus.consumer_db, 1)
    letter = _letters(bus)["broker_rejected"]
    assert str(letter.message_id) == env["id"] and letter.queue.endswith("budget.test-things")


def test_topology_lists_every_exchange_queue_argument_and_binding() -> None:
    described = definitions(subscriptions())
    exchanges = {e["name"]: e["type"] for e in described["exchanges"]}
    assert exchanges == {"eyhub.events": "topic", "eyhub.dead-letters": "direct"}
    queues = {q["name"]: q for q in described["queues"]}
    sessions = queues["bookings.catalogue-sessions"]
    assert sessions["arguments"] == {
        "x-queue-type": "quorum",
        "x-single-active-consumer": True,
        "x-delivery-limit": 20,
        "x-dead-letter-exchange": "eyhub.dead-letters",
        "x-dead-letter-routing-key": "bookings.catalogue-sessions",
    }
    assert {"exchange": "eyhub.events", "routing_key": "catalogue.session.rescheduled"} in (
        sessions["bindings"]
    )
    assert {"exchange": "eyhub.dead-letters", "routing_key": "bookings.catalogue-sessions"} in (
        queues["bookings.dead-letters"]["bindings"]
    )
    json.dumps(described)  # definitions.json material


def test_namespace_prefixes_every_name(embedded: Any) -> None:
    topo = Topology(embedded.settings(EYHUB_BUS_NAMESPACE="t1"), subscriptions(), server=True)
    names = [e["name"] for e in topo.describe()["exchanges"]] + [
        q["name"] for q in topo.describe()["queues"]
    ]
    assert names and all(n.startswith("t1.") for n in names)


def test_readiness_and_metrics_show_backlog_and_dead_letters(bus: Bus) -> None:
    with bus.producer_db.transaction() as s:
        things.emit(s, "x", 1)
        things.emit(s, "y", 1)
    client = create_component_app(things.PRODUCER, title="t", settings=bus.settings).test_client()
    # current without a readiness probe
    text = client.get("/metrics", headers=METRICS_AUTH).get_data(as_text=True)
    assert 'eyhub_outbox_backlog{component="catalogue"} 2.0' in text
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"]["messaging"] == {
        "ok": True,
        "outbox_backlog": 2,
        "dead_letters": 0,
    }
    text = client.get("/metrics", headers=METRICS_AUTH).get_data(as_text=True)
    assert 'eyhub_outbox_backlog{component="catalogue"} 2.0' in text
    assert 'eyhub_dead_letters{component="catalogue"} 0.0' in text


def test_publish_refuses_unknown_types_and_invalid_data(embedded: Any) -> None:
    bus = Bus(embedded)
    try:
        with (
            pytest.raises(events.UnknownEvent, match="no schema"),
            bus.producer_db.transaction() as s,
        ):
            publish(s, "test.never.declared", {})
        with (
            pytest.raises(events.InvalidEventData, match="seq"),
            bus.producer_db.transaction() as s,
        ):
            publish(s, things.THING_CHANGED, {"key": "k", "seq": "x"})
        with (
            pytest.raises(events.InvalidEventData, match="surprise"),
            bus.producer_db.transaction() as s,
        ):
            publish(s, things.THING_CHANGED, {"key": "k", "seq": 1, "surprise": 1})
        with bus.producer_db.transaction() as s:
            assert s.scalar(select(OutboxMessage)) is None
    finally:
        bus.close()


def test_retry_backoff_and_version_check(embedded: Any) -> None:
    settings = embedded.settings(EYHUB_BUS_RETRY_BASE_SECONDS="1", EYHUB_BUS_RETRY_MAX_SECONDS="5")
    assert [backoff_seconds(settings, n) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]
    assert is_stale(3, 2) and not is_stale(3, 3) and not is_stale(None, 1)


def test_worker_runs_the_relay_and_a_consumer_when_there_are_handlers(embedded: Any) -> None:
    for name in COMPONENTS:  # each has handlers (every service follows identity events)
        worker = worker_for(name, embedded.settings())
        assert {"outbox-relay", "messaging-gauges", "bus-consumer"} <= set(worker.loops), name
