"""Batches on the bus: the relay publishes and marks a batch per round, the consumer
applies a backlog per transaction, and the embedded transport's caches (its sorted
listing of the queue folder, the exchange's binding table) never hide a message."""

from __future__ import annotations

import collections
import logging
from typing import Any

import pytest
from kombu import Consumer, Exchange, Producer, Queue
from sqlalchemy import select

from shared.messaging.broker import connect
from shared.messaging.inbox import BATCH_MIN, PREFETCH
from shared.messaging.models import OutboxMessage, RetryEntry
from shared.messaging.outbox import Relay
from shared.messaging.testing import wait_for_handled, wait_until
from tests.messaging import things
from tests.messaging.conftest import Bus


def _emit(bus: Bus, items: list[tuple[str, str]]) -> list[Any]:
    with bus.producer_db.transaction() as s:  # one commit: the consumer sees a backlog
        return [things.emit(s, key, 1, mode) for key, mode in items]


def _pending_keys(bus: Bus) -> list[str]:
    with bus.producer_db.transaction() as s:
        rows = s.scalars(
            select(OutboxMessage).where(OutboxMessage.sent_at.is_(None)).order_by("position")
        )
        return [row.data["key"] for row in rows]


def test_a_relay_round_publishes_a_batch_in_order_and_marks_it_sent(bus: Bus) -> None:
    ids = _emit(bus, [(f"b{i}", "ok") for i in range(30)])
    relay = Relay(things.PRODUCER, bus.settings, bus.producer_db, bus.topology, batch=20)
    try:
        assert relay.publish_pending() == 20
        assert _pending_keys(bus) == [f"b{i}" for i in range(20, 30)]
        assert relay.publish_pending() == 10
        assert relay.publish_pending() == 0
        assert relay.published == 30
    finally:
        relay.close()
    bus.consumer_thread()
    wait_for_handled(bus.consumer_db, message_id=ids[-1])
    assert [r.message_id for r in bus.applied()] == [str(i) for i in ids]


def test_rows_published_before_the_broker_failed_are_kept_sent(
    embedded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = Bus(embedded)
    try:
        _emit(bus, [(f"f{i}", "ok") for i in range(10)])
        relay = Relay(things.PRODUCER, bus.settings, bus.producer_db, bus.topology)
        real_send = relay._send
        sent: list[Any] = []

        def send_then_fail(producer: Any, row: Any) -> None:
            if len(sent) == 4:
                raise ConnectionError("broker gone")
            real_send(producer, row)
            sent.append(row)

        monkeypatch.setattr(relay, "_send", send_then_fail)
        with pytest.raises(ConnectionError):
            relay.publish_pending()
        relay.close()
        assert _pending_keys(bus) == [f"f{i}" for i in range(4, 10)]
        assert relay.published == 4
    finally:
        bus.close()


def test_a_backlog_with_a_poison_message_is_applied_once_and_the_poison_parked(
    bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    items = [(f"p{i}", "ok") for i in range(2 * BATCH_MIN)]
    items.insert(BATCH_MIN // 2, ("poison", "poison"))
    ids = _emit(bus, items)
    # Publish the whole backlog before the consumer starts, so it is drained as a batch
    # however slowly a loaded machine runs the relay.
    relay = Relay(things.PRODUCER, bus.settings, bus.producer_db, bus.topology)
    try:
        published = relay.publish_pending()
        while published:
            published = relay.publish_pending()
    finally:
        relay.close()
    bus.consumer_thread()
    with caplog.at_level(logging.INFO, logger="eyhub.messaging.consumer"):
        wait_for_handled(bus.consumer_db, event_type=things.THING_CHANGED, count=len(items) - 1)

        def parked() -> bool:
            with bus.consumer_db.transaction() as s:
                return s.scalar(select(RetryEntry.message_id)) == ids[BATCH_MIN // 2]

        wait_until(parked, what="the poison message to be parked for retry")
    # The backlog was taken as a batch, which the poison rolled back; one by one after.
    assert any("batch rolled back" in r.getMessage() for r in caplog.records)
    keys = collections.Counter(r.key for r in bus.applied())
    assert keys == collections.Counter(k for k, mode in items if mode == "ok")
    assert [r.key for r in bus.applied()] == [k for k, mode in items if mode == "ok"]


def test_a_backlog_larger_than_the_prefetch_is_applied_in_order(bus: Bus) -> None:
    ids = _emit(bus, [(f"o{i}", "ok") for i in range(PREFETCH * 2 + 7)])
    bus.relay_thread()
    bus.consumer_thread()
    wait_for_handled(bus.consumer_db, message_id=ids[-1], timeout=60)
    assert [r.message_id for r in bus.applied()] == [str(i) for i in ids]


# -- the embedded transport's caches ---------------------------------------------------
def _entities(name: str) -> tuple[Exchange, Queue]:
    exchange = Exchange(f"{name}.x", type="topic", durable=True)
    return exchange, Queue(f"{name}.q", exchange=exchange, routing_key="k", durable=True)


def test_a_requeued_message_comes_back_before_the_ones_behind_it(embedded: Any) -> None:
    settings = embedded.settings()
    exchange, queue = _entities("requeue")
    with connect(settings) as conn:
        channel = conn.channel()
        queue(channel).declare()
        producer = Producer(channel, exchange=exchange)
        for n in range(3):
            producer.publish({"n": n}, routing_key="k")
        got: list[int] = []
        rejected: list[int] = []

        def on_message(message: Any) -> None:
            got.append(message.payload["n"])
            if message.payload["n"] == 0 and not rejected:
                rejected.append(0)
                message.reject(requeue=True)  # put back while 1 and 2 are listed
            else:
                message.ack()

        with Consumer(conn.channel(), [queue], on_message=on_message, prefetch_count=1):
            wait_until(lambda: len(got) >= 4 or conn.drain_events(timeout=1), what="4 gets")
        assert got == [0, 0, 1, 2]


def test_messages_published_after_a_listing_are_seen(embedded: Any) -> None:
    settings = embedded.settings()
    exchange, queue = _entities("later")
    with connect(settings) as conn:
        channel = conn.channel()
        queue(channel).declare()
        producer = Producer(channel, exchange=exchange)
        got: list[int] = []

        def on_message(message: Any) -> None:
            got.append(message.payload["n"])
            message.ack()
            if len(got) == 1:  # the consumer has listed the folder: publish more now
                for n in (1, 2):
                    producer.publish({"n": n}, routing_key="k")

        producer.publish({"n": 0}, routing_key="k")
        with Consumer(conn.channel(), [queue], on_message=on_message, prefetch_count=1):
            wait_until(lambda: len(got) >= 3 or conn.drain_events(timeout=1), what="3 gets")
        assert got == [0, 1, 2]


def test_a_binding_made_after_a_publish_routes_the_next_one(embedded: Any) -> None:
    settings = embedded.settings()
    exchange, first = _entities("bind")
    second = Queue("bind.q2", exchange=exchange, routing_key="k", durable=True)
    with connect(settings) as conn, connect(settings) as other:
        channel = conn.channel()
        first(channel).declare()
        producer = Producer(channel, exchange=exchange)
        producer.publish({"n": 0}, routing_key="k")  # reads and caches the binding table
        second(other.channel()).declare()  # another process binds a second queue
        producer.publish({"n": 1}, routing_key="k")
        assert first(channel).queue_declare(passive=True).message_count == 2
        assert second(channel).queue_declare(passive=True).message_count == 1
