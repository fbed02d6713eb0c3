"""docs/architecture.md "Messages" / issue 3 "Done when": outage, crash, duplicates, poison,
ordering.

Each runs on the embedded transport and, with EYHUB_TEST_* set, on RabbitMQ + PostgreSQL.
"""

from __future__ import annotations

import collections
import os
import signal
from typing import Any

from click.testing import CliRunner
from flask import request
from flask_smorest import Blueprint
from sqlalchemy import insert, update

from shared.messaging.models import OutboxMessage
from shared.messaging.testing import (
    wait_for_dead_letters,
    wait_for_handled,
    wait_for_outbox_drained,
    wait_until,
)
from shared.web import create_component_app, current_db
from tests.messaging import things
from tests.messaging.conftest import Bus


def _emit_many(bus: Bus, items: list[tuple[str, int, str]]) -> list[Any]:
    ids = []
    for key, seq, mode in items:
        with bus.producer_db.transaction() as s:
            ids.append(things.emit(s, key, seq, mode))
    return ids


def _producer_app(bus: Bus) -> Any:
    """A tiny component whose one endpoint is a state change with an event (through HTTP)."""
    bp = Blueprint("things", __name__, url_prefix="/things")

    @bp.post("")
    def create() -> tuple[dict[str, str], int]:
        body = request.get_json()
        with current_db().transaction() as s:
            event_id = things.emit(s, body["key"], 1)
        return {"id": str(event_id)}, 201

    return create_component_app(
        things.PRODUCER, title="things", settings=bus.settings, blueprints=[bp]
    )


def test_broker_outage_delays_but_loses_nothing(proxied_bus: Bus) -> None:
    bus = proxied_bus
    app = _producer_app(bus)
    client = app.test_client()
    bus.relay_thread()
    bus.consumer_thread()
    first = client.post("/things", json={"key": "before"}).get_json()["id"]
    wait_for_handled(bus.consumer_db, message_id=first)

    bus.cut_broker()
    statuses = collections.Counter(
        client.post("/things", json={"key": f"k{i}"}, headers={"X-Request-ID": f"r{i}"}).status_code
        for i in range(200)
    )
    assert statuses == {201: 200}
    ready = client.get("/readyz")
    assert ready.status_code == 503
    checks = ready.get_json()["checks"]
    assert checks["broker"]["ok"] is False
    assert checks["messaging"]["outbox_backlog"] == 200
    assert len(bus.applied()) == 1

    bus.restore_broker()
    wait_for_handled(bus.consumer_db, event_type=things.THING_CHANGED, count=201, timeout=180)
    wait_for_outbox_drained(bus.producer_db)
    rows = bus.applied()
    keys = collections.Counter(r.key for r in rows)
    assert len(rows) == 201 and set(keys.values()) == {1}
    assert {r.correlation_id for r in rows if r.key != "before"} == {f"r{i}" for i in range(200)}
    ready = client.get("/readyz").get_json()
    assert ready["checks"]["messaging"]["outbox_backlog"] == 0
    assert ready["checks"]["broker"]["ok"] is True


def test_consumer_killed_inside_handler_loses_nothing(bus: Bus) -> None:
    bus.relay_thread()
    victim = bus.process("consumer")
    ids = _emit_many(bus, [("a", 1, "ok"), ("h", 1, "hang"), ("b", 1, "ok")])
    wait_for_handled(bus.consumer_db, message_id=ids[0], timeout=90)
    marker = bus.backend.data_dir / "markers" / f"entered-{ids[1]}"
    wait_until(marker.exists, timeout=20, what="the handler to be entered")
    assert int(marker.read_text()) == victim.pid
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(10)
    assert [r.key for r in bus.applied()] == ["a"]  # the killed handler's work rolled back

    bus.process("consumer")
    wait_for_handled(bus.consumer_db, message_id=ids[2], timeout=90)
    wait_for_handled(bus.consumer_db, message_id=ids[1])
    assert sorted(r.key for r in bus.applied()) == ["a", "b", "h"]


def test_every_message_delivered_twice_is_applied_once(bus: Bus) -> None:
    ids = _emit_many(bus, [(f"d{i}", 1, "ok") for i in range(20)])
    bus.relay_thread()
    wait_for_outbox_drained(bus.producer_db)
    with bus.producer_db.transaction() as s:  # publish every row a second time
        s.execute(update(OutboxMessage).values(sent_at=None))
    wait_for_outbox_drained(bus.producer_db)
    last = _emit_many(bus, [("sentinel", 1, "ok")])[0]
    bus.consumer_thread()
    wait_for_handled(bus.consumer_db, message_id=last)  # in order: every twin came before it
    rows = bus.applied()
    assert len(rows) == 21
    assert collections.Counter(r.message_id for r in rows) == collections.Counter(
        {str(i): 1 for i in [*ids, last]}
    )


def test_poison_message_goes_to_dead_letters_others_flow_and_replay_applies_it(
    bus: Bus, monkeypatch: Any
) -> None:
    ids = _emit_many(
        bus, [("p1", 1, "ok"), ("poison", 1, "poison"), *[(f"p{i}", 1, "ok") for i in range(2, 7)]]
    )
    bus.relay_thread()
    bus.consumer_thread()
    wait_for_dead_letters(bus.consumer_db, 1)
    wait_for_handled(bus.consumer_db, event_type=things.THING_CHANGED, count=6)
    assert sorted(r.key for r in bus.applied()) == [f"p{i}" for i in range(1, 7)]

    for name, value in bus.env().items():
        monkeypatch.setenv(name, value)
    from eyhub.cli import main

    runner = CliRunner()
    listed = runner.invoke(main, ["dead-letters", things.CONSUMER, "--json"])
    assert listed.exit_code == 0, listed.output
    import json

    (letter,) = [json.loads(line) for line in listed.output.splitlines()]
    assert letter["message_id"] == str(ids[1])
    assert letter["reason"] == "handler_failed" and letter["attempts"] == 3
    assert "RuntimeError: poison poison" in letter["error"]

    with bus.consumer_db.transaction() as s:  # "deploy the fix"
        s.execute(insert(things.flags).values(name="fixed"))
    replayed = runner.invoke(main, ["dead-letters", things.CONSUMER, "--replay", letter["id"]])
    assert replayed.exit_code == 0, replayed.output
    wait_for_handled(bus.consumer_db, message_id=ids[1])
    assert [r.key for r in bus.applied()].count("poison") == 1
    after = runner.invoke(main, ["dead-letters", things.CONSUMER])
    assert after.output.strip().endswith("0 dead letter(s)")
    again = runner.invoke(main, ["dead-letters", things.CONSUMER, "--replay", "not-an-id"])
    assert again.exit_code != 0 and "not a dead-letter id" in again.output


def test_events_of_one_aggregate_are_applied_in_order(bus: Bus) -> None:
    bus.relay_thread()
    bus.consumer_thread()
    items = [(f"agg{k}", seq, "ok") for seq in (1, 2, 3) for k in range(40)]
    ids = _emit_many(bus, items)
    wait_for_handled(bus.consumer_db, message_id=ids[-1], timeout=90)
    wait_for_handled(bus.consumer_db, event_type=things.THING_CHANGED, count=len(items))
    seen: dict[str, list[int]] = collections.defaultdict(list)
    for row in bus.applied():
        seen[row.key].append(row.seq)
    assert all(seqs == [1, 2, 3] for seqs in seen.values()) and len(seen) == 40
    # publishing order is kept across the whole queue, not only per aggregate
    assert [r.message_id for r in bus.applied()] == [str(i) for i in ids]
