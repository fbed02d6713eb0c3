"""Transactional outbox: ``publish`` writes the event with the change; the relay sends it.

An event exists on the bus if and only if the change that caused it committed: the
row is written in the caller's transaction, and a relay in the service's worker
publishes pending rows in ``position`` order, marking each sent only after the broker
confirmed it (RabbitMQ publisher confirms; the embedded transport's write is
synchronous). A broker outage or a crash delays events, never loses them; a crash
between confirm and commit re-publishes, which the consumers' inbox absorbs.

Several relays on one database (worker replicas) do not publish a row twice in the
normal case: on PostgreSQL a batch is taken with ``FOR UPDATE SKIP LOCKED`` under a
transaction advisory lock (one relay at a time per database, so order holds across
replicas too); SQLite's ``BEGIN IMMEDIATE`` already serialises them.

Mandatory publishing: a message no queue is bound to comes back (RabbitMQ
``basic.return``; the embedded transport raises ``Unroutable``). The relay logs it as
an error, keeps the row pending with a growing delay and moves on to the next rows.
"""

from __future__ import annotations

import logging
import threading
import uuid
import zlib
from datetime import timedelta
from typing import Any

from kombu import Connection, Producer
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from shared import events as schemas
from shared.config import Settings
from shared.db import Database, utcnow
from shared.logs import correlation_id_var
from shared.messaging.broker import Unroutable, connect, ensure_broker_folders
from shared.messaging.envelope import causation_id_var, make_envelope
from shared.messaging.models import OutboxMessage, count_rows
from shared.messaging.topology import Topology

log = logging.getLogger("eyhub.messaging.relay")

BATCH = 100


def publish(
    session: Session,
    event_type: str,
    data: dict[str, Any],
    *,
    causation_id: str | None = None,
    correlation_id: str | None = None,
    version: int | None = None,
) -> uuid.UUID:
    """Write ``event_type`` with ``data`` to the outbox in ``session``'s transaction.

    ``data`` is validated (and normalised to JSON form) by the event's schema in
    ``shared.events``: an unknown type or invalid data raises here, before commit.
    ``correlation_id`` defaults to the current request's / handled message's id,
    ``causation_id`` to the id of the message being handled. Returns the event id.
    """
    version = schemas.latest_version(event_type) if version is None else version
    payload = schemas.dump(event_type, data, version)
    row = OutboxMessage(
        id=uuid.uuid4(),
        event_type=event_type,
        version=version,
        data=payload,
        occurred_at=utcnow(),
        correlation_id=correlation_id or correlation_id_var.get(),
        causation_id=causation_id or causation_id_var.get(),
        attempts=0,
        next_attempt_at=utcnow(),
    )
    session.add(row)
    return row.id


def backlog(db: Database) -> int:
    """Events written but not yet confirmed by the broker."""
    return count_rows(db, OutboxMessage, OutboxMessage.sent_at.is_(None))


class Relay:
    """Publishes one component's outbox; ``run`` is a worker loop."""

    def __init__(
        self,
        component: str,
        settings: Settings,
        db: Database,
        topology: Topology,
        *,
        batch: int = BATCH,
    ) -> None:
        self.component = component
        self.settings = settings
        self.db = db
        self.topology = topology
        self.batch = batch
        self._conn: Connection | None = None
        self._producer: Producer | None = None
        self._returned: set[str] = set()
        self._lock_key = zlib.crc32(b"eyhub-outbox-relay")
        self.published = 0

    # -- connection ----------------------------------------------------------------
    def _on_return(self, exc: Any, exchange: str, routing_key: str, message: Any) -> None:
        mid = (getattr(message, "properties", None) or {}).get("message_id")
        if mid:
            self._returned.add(str(mid))

    def _connect(self) -> Producer:
        if self._producer is not None:
            return self._producer
        if self.settings.embedded_broker:
            ensure_broker_folders(self.settings)
        # No heartbeats: the relay only reads while awaiting confirms, so an idle relay
        # would fail py-amqp's heartbeat check; a dead connection fails the next publish.
        conn = connect(self.settings, heartbeat=0)
        try:
            conn.ensure_connection(max_retries=1, timeout=3)
            channel = conn.channel()
            self.topology.declare(channel)
            on_return = None if self.settings.embedded_broker else self._on_return
            self._producer = Producer(channel, exchange=self.topology.events, on_return=on_return)
        except Exception:
            conn.release()
            raise
        self._conn = conn
        return self._producer

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.release()
            except Exception:  # closing a dead connection must not raise
                log.debug("closing relay connection failed", exc_info=True)
        self._conn = None
        self._producer = None

    # -- publishing ----------------------------------------------------------------
    def _claim(self, s: Session) -> list[OutboxMessage]:
        if self.db.dialect == "postgresql":
            got = s.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": self._lock_key})
            if not got.scalar_one():
                return []  # another replica's relay is publishing
        q = (
            select(OutboxMessage)
            .where(OutboxMessage.sent_at.is_(None), OutboxMessage.next_attempt_at <= utcnow())
            .order_by(OutboxMessage.position)
            .limit(self.batch)
            .with_for_update(skip_locked=True)
        )
        return list(s.scalars(q))

    def _send(self, producer: Producer, row: OutboxMessage) -> None:
        body = make_envelope(
            id=row.id,
            event_type=row.event_type,
            version=row.version,
            occurred_at=row.occurred_at,
            source=self.component,
            correlation_id=row.correlation_id,
            causation_id=row.causation_id,
            data=row.data,
        )
        producer.publish(
            body,
            routing_key=row.event_type,
            serializer="json",
            delivery_mode=2,
            mandatory=True,
            message_id=str(row.id),
            correlation_id=row.correlation_id,
            retry=False,
            timeout=10,  # a half-dead connection must fail the batch, not hang the relay
            confirm_timeout=10,
        )

    def _unroutable(self, row: OutboxMessage, why: str) -> None:
        row.attempts += 1
        delay = min(2.0 ** min(row.attempts, 12), 600.0)
        row.next_attempt_at = utcnow() + timedelta(seconds=delay)
        row.last_error = why[:2000]
        log.error(
            "event unroutable; kept in the outbox and retried",
            extra={"event_type": row.event_type, "message_id": str(row.id), "retry_in_s": delay},
        )

    def publish_pending(self) -> int:
        """Publish one batch; returns how many rows were handled. Raises on broker errors."""
        producer = self._connect()
        failure: BaseException | None = None
        handled = 0
        with self.db.transaction() as s:
            for row in self._claim(s):
                self._returned.clear()
                try:
                    self._send(producer, row)
                except Unroutable as exc:
                    self._unroutable(row, str(exc))
                except Exception as exc:  # broker gone mid-batch: keep what was confirmed
                    failure = exc
                    break
                else:
                    if str(row.id) in self._returned:
                        self._unroutable(row, f"no queue bound to {row.event_type!r}")
                    else:
                        row.sent_at = utcnow()
                        self.published += 1
                handled += 1
        if failure is not None:
            raise failure
        return handled

    def run(self, stop: threading.Event) -> None:
        """Worker loop: publish while there is work, back off while the broker is down."""
        pause = 0.1
        down_since: float | None = None
        while not stop.is_set():
            try:
                n = self.publish_pending()
            except Exception as exc:
                self.close()
                if down_since is None:
                    down_since = 0.0
                    log.warning(
                        "broker unavailable; events stay in the outbox",
                        extra={"error": f"{type(exc).__name__}: {exc}"[:300]},
                    )
                stop.wait(pause)
                pause = min(pause * 2, 5.0)
                continue
            if down_since is not None:
                log.info("broker back; publishing the outbox")
                down_since = None
            pause = 0.1
            if n < self.batch:
                stop.wait(self.settings.bus_poll_seconds)
        self.close()
