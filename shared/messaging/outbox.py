"""Transactional outbox: ``publish`` writes the event with the change; the relay sends it.

An event exists on the bus if and only if the change that caused it committed: the
row is written in the caller's transaction, and a relay in the service's worker
publishes pending rows in ``position`` order, in batches, marking a row sent only after
the broker confirmed it (RabbitMQ publisher confirms, awaited once per batch; the
embedded transport's write is synchronous). A broker outage or a crash delays events,
never loses them; a crash between confirm and commit re-publishes, which the
consumers' inbox absorbs.

Several relays on one database (worker replicas) do not publish a row twice in the
normal case: on PostgreSQL a batch is taken with ``FOR UPDATE SKIP LOCKED`` under a
transaction advisory lock (one relay at a time per database, so order holds across
replicas too); SQLite's ``BEGIN IMMEDIATE`` already serialises them.

No consumer: an event type no handler takes (the topology, derived from the handler
registries, binds it to no queue) is marked sent without going to the broker: nobody
would read it, and a consumer added later starts from the events after it.

Mandatory publishing: a message the topology routes but the broker does not (its
queue deleted, a broker restored without its bindings) comes back (RabbitMQ
``basic.return``; the embedded transport raises ``Unroutable``). That is a fault, so
the relay logs it as an error, keeps the row pending with a growing delay and moves
on to the next rows.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
import zlib
from datetime import timedelta
from typing import Any

from amqp.exceptions import MessageNacked
from kombu import Connection, Producer
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from shared import events as schemas
from shared.config import Settings
from shared.db import Database, utcnow
from shared.logs import correlation_id_var
from shared.messaging.broker import Unroutable, connect, ensure_broker_folders
from shared.messaging.envelope import causation_id_var, make_envelope
from shared.messaging.models import OutboxMessage, count_rows
from shared.messaging.topology import Topology
from shared.retry import Backoff, backoff_delay

log = logging.getLogger("eyhub.messaging.relay")

#: Rows per relay round: one confirm wait and one ``UPDATE`` per round.
BATCH = 200
#: Seconds a round waits for the broker to take (write) and confirm its messages.
CONFIRM_TIMEOUT = 10.0
#: The outbox columns a round reads (no ORM objects: the rows are only published).
_CLAIMED = (
    OutboxMessage.position,
    OutboxMessage.id,
    OutboxMessage.event_type,
    OutboxMessage.version,
    OutboxMessage.data,
    OutboxMessage.occurred_at,
    OutboxMessage.correlation_id,
    OutboxMessage.causation_id,
    OutboxMessage.attempts,
)


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
    """Publishes one component's outbox; ``run`` is a worker loop.

    A round takes up to ``batch`` pending rows in ``position`` order, publishes them all
    on one channel and then waits once for the broker's confirms (tracked by delivery
    tag; RabbitMQ sends the ``basic.return`` of an unroutable mandatory message before
    its ack, so once all are acked the returns are known), and marks every confirmed row
    sent with one ``UPDATE`` in the round's transaction. Waiting for each confirm in turn
    would bound the relay by the broker's per-message sync (a quorum queue's log write)
    instead of its throughput.
    """

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
        #: message ids RabbitMQ returned as unroutable (``basic.return``) this round
        self._returned: set[str] = set()
        #: publisher-confirm bookkeeping of the current channel (delivery tags)
        self._seq = 0
        self._unsettled: set[int] = set()
        self._acked: set[int] = set()
        self._nacked: set[int] = set()
        self._lock_key = zlib.crc32(b"eyhub-outbox-relay")
        self.published = 0

    # -- connection ----------------------------------------------------------------
    def _on_return(self, exc: Any, exchange: str, routing_key: str, message: Any) -> None:
        mid = (getattr(message, "properties", None) or {}).get("message_id")
        if mid:
            self._returned.add(str(mid))

    def _settle(self, tag: int, multiple: bool, into: set[int]) -> None:
        done = {t for t in self._unsettled if t <= tag} if multiple else {tag} & self._unsettled
        self._unsettled -= done
        into |= done

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle(delivery_tag, multiple, self._acked)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle(delivery_tag, multiple, self._nacked)

    def _connect(self) -> Producer:
        if self._producer is not None:
            return self._producer
        embedded = self.settings.embedded_broker
        if embedded:
            ensure_broker_folders(self.settings)
        # No heartbeats: the relay only reads while awaiting confirms, so an idle relay
        # would fail py-amqp's heartbeat check; a dead connection fails the next publish.
        # Confirms are managed here (one wait per batch), not by py-amqp per message.
        conn = connect(self.settings, heartbeat=0, confirm_publish=False)
        try:
            conn.ensure_connection(max_retries=1, timeout=3)
            channel = conn.channel()
            self.topology.declare(channel)
            if not embedded:
                channel.confirm_select()
                channel.events["basic_ack"].add(self._on_ack)
                channel.events["basic_nack"].add(self._on_nack)
            self._seq = 0
            self._unsettled.clear()
            self._producer = Producer(
                channel,
                exchange=self.topology.events,
                on_return=None if embedded else self._on_return,
                auto_declare=False,  # declared above, with the whole topology
            )
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
    def _claim(self, s: Session) -> list[Any]:
        if self.db.dialect == "postgresql":
            got = s.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": self._lock_key})
            if not got.scalar_one():
                return []  # another replica's relay is publishing
        q = (
            select(*_CLAIMED)
            .where(OutboxMessage.sent_at.is_(None), OutboxMessage.next_attempt_at <= utcnow())
            .order_by(OutboxMessage.position)
            .limit(self.batch)
            .with_for_update(skip_locked=True)
        )
        return list(s.execute(q))

    def _send(self, producer: Producer, row: Any) -> None:
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
            timeout=CONFIRM_TIMEOUT,  # a half-dead connection must fail, not hang the relay
        )

    def _await_confirms(self) -> None:
        """Read the broker's acks (and returns) until every publish of the round is settled."""
        assert self._conn is not None
        deadline = time.monotonic() + CONFIRM_TIMEOUT
        while self._unsettled:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"broker did not confirm {len(self._unsettled)} message(s)")
            self._conn.drain_events(timeout=remaining)

    def _unroutable(self, s: Session, row: Any, why: str) -> None:
        attempts = row.attempts + 1
        delay = backoff_delay(attempts, base=2.0, cap=600.0)
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.position == row.position)
            .values(
                attempts=attempts,
                next_attempt_at=utcnow() + timedelta(seconds=delay),
                last_error=why[:2000],
            )
            .execution_options(synchronize_session=False)
        )
        log.error(
            "event unroutable; kept in the outbox and retried",
            extra={"event_type": row.event_type, "message_id": str(row.id), "retry_in_s": delay},
        )

    def publish_pending(self) -> int:
        """Publish one batch; returns how many rows were handled. Raises on broker errors.

        Rows the broker confirmed are marked sent even when a later one failed (that one
        and the rest stay pending for the next round; a re-publish is absorbed by the
        consumers' inbox).
        """
        producer = self._connect()
        embedded = self.settings.embedded_broker
        failure: BaseException | None = None
        with self.db.transaction() as s:
            rows = self._claim(s)
            if not rows:
                return 0
            self._returned.clear()
            self._acked.clear()
            self._nacked.clear()
            tags: dict[int, Any] = {}
            unroutable: list[tuple[Any, str]] = []
            unheard: list[int] = []  # types no handler takes: nobody to publish to
            for row in rows:
                if not self.topology.binds(row.event_type):
                    unheard.append(row.position)
                    continue
                try:
                    self._send(producer, row)
                except Unroutable as exc:  # the embedded transport knows at once
                    unroutable.append((row, str(exc)))
                    continue
                except Exception as exc:  # broker gone mid-batch: keep what was confirmed
                    failure = exc
                    break
                self._seq += 1
                tags[self._seq] = row
                if embedded:  # the message file is in place: as good as a confirm
                    self._acked.add(self._seq)
                else:
                    self._unsettled.add(self._seq)
            if failure is None and not embedded:
                try:
                    self._await_confirms()
                except Exception as exc:
                    failure = exc
            sent: list[int] = []
            for tag, row in tags.items():
                if tag not in self._acked:
                    continue  # nacked or unconfirmed: stays pending
                if str(row.id) in self._returned:
                    unroutable.append((row, f"no queue bound to {row.event_type!r}"))
                else:
                    sent.append(row.position)
            if sent or unheard:
                s.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.position.in_([*sent, *unheard]))
                    .values(sent_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
            for row, why in unroutable:
                self._unroutable(s, row, why)
            self.published += len(sent)
            if failure is None and self._nacked:
                failure = MessageNacked(f"broker refused {len(self._nacked)} message(s)")
        if failure is not None:
            self.close()  # the next round starts on a fresh channel, with no stale confirms
            raise failure
        return len(rows)

    def run(self, stop: threading.Event) -> None:
        """Worker loop: publish while there is work, back off while the broker is down.

        After a round that found rows it goes again at once (more may have been written
        meanwhile); only an empty round waits ``bus_poll_seconds``.
        """
        backoff = Backoff(base=0.1, cap=5.0)
        down = False
        while not stop.is_set():
            try:
                n = self.publish_pending()
            except Exception as exc:
                self.close()
                if not down:
                    down = True
                    log.warning(
                        "broker unavailable; events stay in the outbox",
                        extra={"error": f"{type(exc).__name__}: {exc}"[:300]},
                    )
                backoff.pause(stop)
                continue
            if down:
                log.info("broker back; publishing the outbox")
                down = False
            backoff.succeeded()
            if n == 0:
                stop.wait(self.settings.bus_poll_seconds)
        self.close()
