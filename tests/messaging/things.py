"""Test-only event types, queue and handlers (never loaded by the platform).

``test.thing.changed`` carries ``{key, seq, mode}``. The handler records each
application in ``test_applied`` (the effect whose count proves exactly-once), and
``mode`` makes it misbehave on purpose: ``poison`` raises until the ``fixed`` flag is
set, ``hang`` writes a marker file and blocks the first time (so a test can SIGKILL
the process inside the handler).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from marshmallow import Schema, fields
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.orm import Session

from eyhub.components import subscriptions
from services.budget.handlers import handlers as budget_handlers
from shared import events
from shared.config import Settings
from shared.messaging import Event, HandlerContext, Registry, publish
from shared.messaging.topology import Topology, subscriptions_from

THING_CHANGED = "test.thing.changed"
PRODUCER, CONSUMER, PURPOSE = "catalogue", "budget", "test-things"


class ThingData(Schema):
    key = fields.String(required=True)
    seq = fields.Integer(required=True)
    mode = fields.String(load_default="ok")


events.register(THING_CHANGED, ThingData)

metadata = MetaData()
applied = Table(
    "test_applied",
    metadata,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(64), nullable=False),
    Column("key", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("correlation_id", String(128)),
)
flags = Table("test_flags", metadata, Column("name", String(64), primary_key=True))

registry = Registry(CONSUMER)
# The consumer service's own bindings, so its wiring holds with the test queue added.
for _spec in budget_handlers.specs:
    registry.handles(*_spec.event_types, queue=_spec.purpose)(_spec.fn)


def topology(settings: Settings) -> Topology:
    """The platform's topology plus the test queue (derived from the test registry)."""
    extra = [s for s in subscriptions_from([registry]) if s.purpose == PURPOSE]
    return Topology(settings, (*subscriptions(), *extra))


def marker_dir() -> Path:
    return Path(os.environ["EYHUB_DATA_DIR"]) / "markers"


@registry.handles(THING_CHANGED, queue=PURPOSE)
def on_thing(session: Session, event: Event, ctx: HandlerContext) -> None:
    mode = event.data["mode"]
    if (
        mode == "poison"
        and session.scalar(select(flags.c.name).where(flags.c.name == "fixed")) is None
    ):
        raise RuntimeError(f"poison {event.data['key']}")
    session.execute(
        insert(applied).values(
            message_id=str(event.id),
            key=event.data["key"],
            seq=event.data["seq"],
            correlation_id=event.correlation_id,
        )
    )
    if mode == "chain":  # a handler that publishes: the new event continues the chain
        emit(session, f"{event.data['key']}-child", event.data["seq"])
    if mode == "hang":
        marker = marker_dir() / f"entered-{event.id}"
        if not marker.exists():
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(str(os.getpid()))
            time.sleep(60)  # the test SIGKILLs us here, before commit and ack


def emit(session: Session, key: str, seq: int, mode: str = "ok") -> object:
    return publish(session, THING_CHANGED, {"key": key, "seq": seq, "mode": mode})
