"""The bus topology is the registered handlers: no queue without a consumer, no handler
without a binding, and an operator can see each queue's depth and oldest message."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from eyhub.cli import main
from eyhub.components import COMPONENTS, SERVICES, registries, subscriptions, worker_for
from shared.messaging import Event, HandlerContext, Registry
from shared.messaging.inbox import Consumer, check_handlers
from shared.messaging.queues import queue_report
from shared.messaging.testing import wait_for_handled, wait_for_outbox_drained, wait_until
from shared.messaging.topology import Subscription, Topology, subscriptions_from
from tests.messaging import things
from tests.messaging.conftest import Bus


def _noop(_s: Any, _e: Event, _c: HandlerContext) -> None:
    """A handler that does nothing (wiring tests never deliver)."""


def test_declared_topology_equals_the_registered_handlers_of_every_service() -> None:
    declared = {(s.service, s.purpose): set(s.binding_keys) for s in subscriptions()}
    registered: dict[tuple[str, str], set[str]] = {}
    for name in COMPONENTS:
        registry = COMPONENTS[name].handlers or Registry(name)
        assert registry.service == name, f"{name} was handed {registry.service}'s handlers"
        for purpose, by_type in registry.by_purpose().items():
            registered[(name, purpose)] = set(by_type)
    assert declared == registered
    assert declared, "bookings consumes catalogue events: the topology cannot be empty"
    # The live defect this guards against: queues for services that consume nothing.
    assert {service for service, _ in declared} == {r.service for r in registries()}


def test_every_queue_has_a_consumer_loop_in_its_services_worker(embedded: Any) -> None:
    consuming = {s.service for s in subscriptions()}
    for name in SERVICES:
        worker = worker_for(name, embedded.settings())
        try:
            assert ("bus-consumer" in worker.loops) == (name in consuming), name
        finally:
            worker.db.dispose()


def test_a_bound_key_without_a_handler_stops_the_consumer(embedded: Any) -> None:
    registry = Registry("budget")
    registry.handles("bookings.booking.confirmed", queue="bookings")(_noop)
    extra = Subscription(
        "budget", "bookings", ("bookings.booking.confirmed", "bookings.booking.cancelled")
    )
    topology = Topology(embedded.settings(), (*subscriptions(), extra))
    with pytest.raises(LookupError, match=r"budget.bookings is bound to \['bookings.booking.c"):
        check_handlers(registry, topology)


def test_a_handler_without_a_binding_stops_the_consumer(embedded: Any) -> None:
    registry = Registry("budget")
    registry.handles("bookings.booking.confirmed", queue="bookings")(_noop)
    topology = Topology(embedded.settings(), subscriptions())  # nothing bound for budget
    with pytest.raises(LookupError, match=r"handles \['bookings.booking.confirmed'\] but"):
        Consumer("budget", embedded.settings(), None, topology=topology, registry=registry)  # type: ignore[arg-type]


def test_a_handler_of_an_unknown_event_type_stops_the_consumer(embedded: Any) -> None:
    registry = Registry("budget")
    registry.handles("bookings.booking.confirmd", queue="bookings")(_noop)  # typo
    topology = Topology(embedded.settings(), subscriptions_from([registry]))
    with pytest.raises(LookupError, match="unknown event types"):
        check_handlers(registry, topology)


def test_eyhub_check_prints_the_wiring(embedded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in embedded.env().items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 0, result.output
    assert "bookings.catalogue-sessions: catalogue.event.updated" in result.output
    for name in SERVICES:  # every service follows the gateway's identity events
        assert f"{name}.identity: identity.user.changed, identity.user.deactivated" in result.output
    assert "gateway.catalogue-hubs: catalogue.hub.created" in result.output  # learns hubs
    assert result.output.strip().endswith("bus wiring: ok")


def _row(bus: Bus) -> Any:
    report = queue_report(bus.settings, bus.topology.subscriptions)
    return next(r for r in report if r.queue.endswith(f"{things.CONSUMER}.{things.PURPOSE}"))


def test_queues_report_depth_consumers_and_oldest_waiting_message(bus: Bus) -> None:
    with bus.producer_db.transaction() as s:
        for i in range(3):
            things.emit(s, f"q{i}", i)
    bus.relay_thread()
    wait_for_outbox_drained(bus.producer_db)
    waiting = _row(bus)
    assert waiting.depth == 3
    assert waiting.oldest_age_s is not None and waiting.oldest_age_s >= 0
    assert waiting.binds == (things.THING_CHANGED,)

    bus.consumer_thread()
    wait_for_handled(bus.consumer_db, event_type=things.THING_CHANGED, count=3)
    if bus.backend.is_server:  # RabbitMQ counts consumers; the embedded transport cannot
        assert wait_until(lambda: _row(bus).consumers == 1, timeout=10)
    drained = _row(bus)
    assert drained.depth == 0 and drained.oldest_age_s is None


def test_eyhub_queues_lists_every_queue(embedded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in embedded.env().items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["queues"])
    assert result.exit_code == 0, result.output
    assert "bookings.catalogue-sessions" in result.output
    assert f"{len(subscriptions())} queue(s)" in result.output
