"""``eyhub queues``: each queue's depth, consumers and oldest waiting message.

Depth and consumers come from the broker (a passive declare: it creates nothing and
works on RabbitMQ and on the embedded transport, which reports no consumers). The age
of the oldest waiting message comes from our own tables, the same on both: the oldest
message a relay has published with a type the queue binds, that the consuming
service has not yet applied, parked for retry or dead-lettered. A queue whose oldest
age keeps growing is stuck, whatever its depth says.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from shared.config import COMPONENTS, Settings
from shared.db import Database, utcnow
from shared.messaging.broker import connect
from shared.messaging.models import DeadLetter, InboxEntry, OutboxMessage, RetryEntry
from shared.messaging.topology import Subscription, Topology

#: How far back in each outbox the age looks (recent sends; older ones are pruned anyway).
LOOKBACK = 5000


@dataclass(frozen=True)
class QueueStats:
    queue: str
    service: str
    depth: int | None
    consumers: int | None
    oldest_age_s: float | None
    binds: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _broker_counts(settings: Settings, topology: Topology) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    with connect(settings) as conn:
        conn.ensure_connection(max_retries=1, timeout=3)
        channel = conn.channel()
        for sub in topology.subscriptions:
            name = topology.queue_name(sub.service, sub.purpose)
            try:
                ok = channel.queue_declare(queue=name, passive=True)
            except Exception:  # not declared yet: no worker has connected
                channel = conn.channel()
                continue
            out[name] = (int(ok.message_count), int(ok.consumer_count))
    return out


def _sent(dbs: dict[str, Database], types: tuple[str, ...]) -> list[tuple[uuid.UUID, datetime]]:
    sent: list[tuple[uuid.UUID, datetime]] = []
    for db in dbs.values():
        try:
            with db.transaction() as s:
                rows = s.execute(
                    select(OutboxMessage.id, OutboxMessage.sent_at)
                    .where(OutboxMessage.sent_at.is_not(None), OutboxMessage.event_type.in_(types))
                    .order_by(OutboxMessage.position.desc())
                    .limit(LOOKBACK)
                )
                sent += [(mid, at) for mid, at in rows if at is not None]
        except DBAPIError:  # a database not created or migrated yet has sent nothing
            continue
    return sent


def _accounted(db: Database, queue: str, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    seen: set[uuid.UUID] = set()
    with db.transaction() as s:
        for table in (InboxEntry, RetryEntry, DeadLetter):
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                seen.update(
                    m
                    for m in s.scalars(
                        select(table.message_id).where(
                            table.queue == queue, table.message_id.in_(chunk)
                        )
                    )
                    if m is not None
                )
    return seen


def oldest_waiting_age(
    sub: Subscription, queue: str, dbs: dict[str, Database], now: datetime | None = None
) -> float | None:
    """Seconds since the oldest unapplied message for ``queue`` was published, or None."""
    sent = _sent(dbs, sub.binding_keys)
    if not sent:
        return None
    done = _accounted(dbs[sub.service], queue, [mid for mid, _ in sent])
    waiting = [at for mid, at in sent if mid not in done]
    if not waiting:
        return None
    return round(((now or utcnow()) - min(waiting)).total_seconds(), 3)


def queue_report(settings: Settings, subscriptions: tuple[Subscription, ...]) -> list[QueueStats]:
    """One line per queue of the topology (see the module docstring for the figures)."""
    topology = Topology(settings, subscriptions)
    try:
        counts = _broker_counts(settings, topology)
    except Exception:
        counts = {}  # broker down: still report the ages from the databases
    dbs = {c: Database(settings.database_url(c), name=c) for c in COMPONENTS}
    try:
        report = []
        for sub in topology.subscriptions:
            name = topology.queue_name(sub.service, sub.purpose)
            depth, consumers = counts.get(name, (None, None))
            report.append(
                QueueStats(
                    queue=name,
                    service=sub.service,
                    depth=depth,
                    consumers=None if settings.embedded_broker else consumers,
                    oldest_age_s=oldest_waiting_age(sub, name, dbs),
                    binds=sub.binding_keys,
                )
            )
        return report
    finally:
        for db in dbs.values():
            db.dispose()
