"""Consuming: the ``@handles`` registry, the inbox (exactly-once effects), retries, dead letters.

Writing handlers: a service keeps one ``Registry`` of its handlers (by convention in
``services/<service>/handlers.py``) and the launcher (``eyhub/components.py``) hands it
to the worker::

    from shared.messaging import Event, HandlerContext, Registry

    handlers = Registry("bookings")

    @handlers.handles("catalogue.session.scheduled", "catalogue.session.rescheduled",
                      queue="catalogue-sessions")
    def on_session(session: Session, event: Event, ctx: HandlerContext) -> None:
        operations.apply_session_snapshot(session, ctx.settings, event.data)

``queue`` is the purpose part of the durable queue ``<service>.<purpose>``. The
topology is derived from the registries (``topology.subscriptions_from``): a queue
exists only for a handler that runs, bound to exactly the types it handles. The
handler gets the unit of work (the session of the inbox transaction) and a context
(settings, clock) instead of reaching for globals, so a test can call it with fakes.

Guarantees:

- **Applied exactly once.** The handler runs in one DB transaction together with the
  insert of ``(queue, message id)`` into ``inbox``; a redelivered or duplicated message
  finds the row and is acknowledged without effect. The broker message is acked only
  after that transaction committed (a crash before the ack means a redelivery, which
  the inbox absorbs). A backlog (``BATCH_MIN`` or more messages of a queue waiting) is
  applied up to ``PREFETCH`` messages per transaction, handlers in order on the same
  session; if any of them fails, that transaction is rolled back and each message is
  applied alone, so handlers must keep their effects in the session (they do: the
  outbox is how a handler talks to the world).
- **Failures.** A handler that raises is retried with exponential backoff
  (``EYHUB_BUS_RETRY_BASE_SECONDS`` doubling up to ``EYHUB_BUS_RETRY_MAX_SECONDS``); the
  message is parked in ``message_retries`` and acked, so the messages behind it keep
  flowing. After ``EYHUB_BUS_MAX_ATTEMPTS`` attempts it goes to ``dead_letters`` with
  the error. A message whose type/version has no schema, whose data the schema
  rejects, or that has no handler here goes to dead letters at once, with that reason;
  the worker never crashes on a message.
- **Order.** Within one queue messages are applied in publishing order (one consumer
  thread applying what it drained in delivery order, RabbitMQ single-active-consumer
  across replicas, the relay publishing in outbox order). A message that failed and is
  retried (or replayed from dead letters) is applied *after* later ones, so a handler
  of snapshot events must not rely on order alone: compare the aggregate's version
  (catalogue session events carry ``sequence``; see ``is_stale``) and ignore stale ones.
- **Correlation.** While a handler runs, ``shared.logs.correlation_id_var`` holds the
  message's correlation id and ``causation_id_var`` its id, so its log lines and the
  events it publishes carry the chain.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kombu import Consumer as KombuConsumer
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared import events as schemas
from shared.config import Settings
from shared.db import Database, utcnow
from shared.logs import correlation_id_var
from shared.messaging.broker import connect
from shared.messaging.envelope import BadEnvelope, Event, causation_id_var, parse_envelope
from shared.messaging.models import DeadLetter, InboxEntry, RetryEntry
from shared.messaging.topology import Topology
from shared.retry import Backoff, backoff_delay

log = logging.getLogger("eyhub.messaging.consumer")

#: Messages a queue's consumer holds unacknowledged (the broker's prefetch), and so the
#: most it applies in one transaction.
PREFETCH = 100
#: Fewer messages than this waiting are applied one transaction each: a short queue gains
#: little from a shared commit, and alone each commits before the next handler starts.
BATCH_MIN = 8


@dataclass(frozen=True)
class HandlerContext:
    """What a handler may need besides its unit of work and the event."""

    settings: Settings
    clock: Callable[[], datetime] = utcnow


Handler = Callable[[Session, Event, HandlerContext], None]


def is_stale(current_version: int | None, incoming_version: int) -> bool:
    """True when an event carries an older aggregate version than what is stored.

    Equal versions are not stale (re-applying the same snapshot is harmless), so a
    handler can write ``if is_stale(row.sequence, event.data["sequence"]): return``.
    """
    return current_version is not None and incoming_version < current_version


@dataclass(frozen=True)
class HandlerSpec:
    service: str
    purpose: str
    event_types: tuple[str, ...]
    fn: Handler


@dataclass
class Registry:
    """One service's handlers; ``handles`` registers, the worker consumes what is here."""

    service: str
    specs: list[HandlerSpec] = field(default_factory=list)

    def handles(self, *event_types: str, queue: str) -> Callable[[Handler], Handler]:
        """Register ``fn(session, event, ctx)`` for ``event_types`` on ``<service>.<queue>``."""
        if not event_types:
            raise ValueError("@handles needs at least one event type")

        def deco(fn: Handler) -> Handler:
            for spec in self.specs:
                clash = set(spec.event_types) & set(event_types)
                if spec.purpose == queue and clash and spec.fn is not fn:
                    raise ValueError(f"{self.service}.{queue} already handles {sorted(clash)}")
            self.specs.append(HandlerSpec(self.service, queue, tuple(event_types), fn))
            return fn

        return deco

    def by_purpose(self) -> dict[str, dict[str, Handler]]:
        """``{purpose: {event_type: handler}}``."""
        out: dict[str, dict[str, Handler]] = {}
        for spec in self.specs:
            for event_type in spec.event_types:
                out.setdefault(spec.purpose, {})[event_type] = spec.fn
        return out


def check_handlers(registry: Registry, topology: Topology) -> None:
    """The topology must bind exactly what the service handles, no more and no less.

    A bound key without a handler would dead-letter every such message; a handler
    without a binding would never run; a type without a schema can never be published.
    Each is a wiring mistake, so the worker refuses to start with the reason.
    """
    problems: list[str] = []
    handled = registry.by_purpose()
    for purpose, by_type in handled.items():
        unknown = sorted(set(by_type) - set(schemas.known_types()))
        if unknown:
            problems.append(f"{registry.service}.{purpose} handles unknown event types {unknown}")
    bound = {
        sub.purpose: set(sub.binding_keys)
        for sub in topology.subscriptions
        if sub.service == registry.service
    }
    for purpose in sorted(set(handled) | set(bound)):
        queue = f"{registry.service}.{purpose}"
        unbound = sorted(set(handled.get(purpose, {})) - bound.get(purpose, set()))
        unhandled = sorted(bound.get(purpose, set()) - set(handled.get(purpose, {})))
        if unbound:
            problems.append(f"{queue} handles {unbound} but the topology does not bind them")
        if unhandled:
            problems.append(f"{queue} is bound to {unhandled} but no handler takes them")
    if problems:
        raise LookupError("bus wiring: " + "; ".join(problems))


def backoff_seconds(settings: Settings, attempts: int) -> float:
    """Delay before attempt ``attempts + 1``: base, 2 base, 4 base... capped."""
    return backoff_delay(
        attempts, base=settings.bus_retry_base_seconds, cap=settings.bus_retry_max_seconds
    )


def _error_text(exc: BaseException) -> str:
    tb = "".join(traceback.format_exception(exc)[-6:])
    return f"{type(exc).__name__}: {exc}\n{tb}"[:8000]


class Dispatcher:
    """Applies messages of one service's queues to its database (broker-independent)."""

    def __init__(
        self,
        service: str,
        settings: Settings,
        db: Database,
        topology: Topology,
        registry: Registry,
        context: HandlerContext | None = None,
    ) -> None:
        if registry.service != service:
            raise ValueError(f"{service}'s dispatcher was given {registry.service}'s handlers")
        self.service = service
        self.settings = settings
        self.db = db
        self.topology = topology
        self.context = context or HandlerContext(settings)
        check_handlers(registry, topology)
        #: queue name → {event type → handler}
        self.handlers: dict[str, dict[str, Handler]] = {
            topology.queue_name(service, purpose): by_type
            for purpose, by_type in registry.by_purpose().items()
        }

    # -- one message -----------------------------------------------------------------
    def receive(self, queue: str, body: Any) -> str:
        """Handle one delivery from the broker; returns the outcome. Raises only if the DB
        is unusable (then the caller must not ack: the broker redelivers)."""
        parsed = self._parse(queue, body)
        if isinstance(parsed, str):
            return parsed
        return self._attempt(queue, *parsed, attempts=0, retry_id=None)

    def _parse(self, queue: str, body: Any) -> tuple[dict[str, Any], dict[str, Any]] | str:
        """The envelope and its fields, or the outcome of dead-lettering what is not one."""
        if isinstance(body, bytes | str):
            try:
                body = json.loads(body)
            except ValueError:
                raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
                return self.dead_letter(
                    queue, {"raw": raw[:100_000]}, "bad_envelope", "message body is not JSON", 0
                )
        try:
            fields = parse_envelope(body)
        except BadEnvelope as exc:
            envelope = body if isinstance(body, dict) else {"raw": repr(body)[:100_000]}
            return self.dead_letter(queue, envelope, "bad_envelope", str(exc), 0)
        return body, fields

    # -- a batch of one queue ----------------------------------------------------------
    def receive_batch(self, queue: str, bodies: list[Any]) -> list[str]:
        """Handle deliveries of one queue, in order, applying them in one transaction.

        Same outcomes as ``receive`` for each, with one inbox lookup, one insert of the
        inbox rows and one commit for all of them. If anything in that transaction fails
        (a handler raising, a concurrent twin's inbox row) it is rolled back and every
        message is applied on its own, which isolates the failure as ``receive`` does.
        Raises only if the DB is unusable (then none may be acked).
        """
        outcomes: dict[int, str] = {}
        ready: list[tuple[int, dict[str, Any], dict[str, Any], Event, Handler]] = []
        for i, body in enumerate(bodies):
            parsed = self._parse(queue, body)
            if isinstance(parsed, str):
                outcomes[i] = parsed
                continue
            resolved = self._resolve(queue, *parsed, attempts=0, retry_id=None)
            if isinstance(resolved, str):
                outcomes[i] = resolved
                continue
            ready.append((i, *parsed, *resolved))
        applied = self._apply_together(queue, [(e, h) for *_, e, h in ready]) if ready else []
        if applied is None:
            for i, body, fields, _event, _handler in ready:
                outcomes[i] = self._attempt(queue, body, fields, attempts=0, retry_id=None)
        else:
            outcomes.update(zip([item[0] for item in ready], applied, strict=True))
        return [outcomes[i] for i in range(len(bodies))]

    def _apply_together(self, queue: str, items: list[tuple[Event, Handler]]) -> list[str] | None:
        """Apply ``items`` in one transaction; their outcomes, or None if it rolled back."""
        outcomes: list[str] = []
        try:
            with self.db.transaction() as s:
                ids = [event.id for event, _ in items]
                done = set(
                    s.scalars(
                        select(InboxEntry.message_id).where(
                            InboxEntry.queue == queue, InboxEntry.message_id.in_(ids)
                        )
                    )
                )
                parked = set(
                    s.scalars(
                        select(RetryEntry.message_id).where(
                            RetryEntry.queue == queue, RetryEntry.message_id.in_(ids)
                        )
                    )
                )
                todo: list[tuple[Event, Handler]] = []
                for event, handler in items:
                    if event.id in done:
                        outcomes.append("duplicate")  # incl. a twin earlier in this batch
                    elif event.id in parked:
                        outcomes.append("already-parked")
                    else:
                        done.add(event.id)
                        todo.append((event, handler))
                        outcomes.append("applied")
                if todo:
                    now = utcnow()
                    s.execute(  # a concurrent twin blocks here, then fails: all one by one
                        insert(InboxEntry),
                        [
                            {
                                "queue": queue,
                                "message_id": event.id,
                                "event_type": event.type,
                                "correlation_id": event.correlation_id,
                                "handled_at": now,
                            }
                            for event, _ in todo
                        ],
                    )
                for event, handler in todo:
                    tokens = (
                        correlation_id_var.set(event.correlation_id or str(event.id)),
                        causation_id_var.set(str(event.id)),
                    )
                    try:
                        handler(s, event, self.context)
                    finally:
                        correlation_id_var.reset(tokens[0])
                        causation_id_var.reset(tokens[1])
        except Exception as exc:
            log.info(
                "batch rolled back; applying its messages one by one",
                extra={"queue": queue, "size": len(items), "error": f"{type(exc).__name__}"},
            )
            return None
        log.debug("handled a batch", extra={"queue": queue, "size": len(items)})
        return outcomes

    def _event(self, queue: str, body: dict[str, Any], fields: dict[str, Any]) -> Event:
        data = schemas.load(fields["type"], fields["version"], fields["data"])
        return Event(
            id=fields["id"],
            type=fields["type"],
            version=fields["version"],
            occurred_at=fields["occurred_at"],
            source=fields["source"],
            correlation_id=fields["correlation_id"],
            causation_id=fields["causation_id"],
            data=data,
            raw=body,
        )

    def _resolve(
        self,
        queue: str,
        body: dict[str, Any],
        fields: dict[str, Any],
        *,
        attempts: int,
        retry_id: uuid.UUID | None,
    ) -> tuple[Event, Handler] | str:
        """The event and its handler, or the outcome of dead-lettering what has neither."""
        handler = self.handlers.get(queue, {}).get(fields["type"])
        try:
            event = self._event(queue, body, fields)
        except schemas.UnknownEvent as exc:
            return self.dead_letter(queue, body, "unknown_event", str(exc), attempts, retry_id)
        except schemas.InvalidEventData as exc:
            return self.dead_letter(queue, body, "invalid_data", str(exc), attempts, retry_id)
        if handler is None:
            why = f"{self.service} has no handler for {fields['type']!r} on {queue}"
            return self.dead_letter(queue, body, "no_handler", why, attempts, retry_id)
        return event, handler

    def _attempt(
        self,
        queue: str,
        body: dict[str, Any],
        fields: dict[str, Any],
        *,
        attempts: int,
        retry_id: uuid.UUID | None,
    ) -> str:
        resolved = self._resolve(queue, body, fields, attempts=attempts, retry_id=retry_id)
        if isinstance(resolved, str):
            return resolved
        event, handler = resolved
        tokens = (
            correlation_id_var.set(event.correlation_id or str(event.id)),
            causation_id_var.set(str(event.id)),
        )
        try:
            with self.db.transaction() as s:
                if s.get(InboxEntry, (queue, event.id)) is not None:
                    if retry_id is not None:
                        s.execute(delete(RetryEntry).where(RetryEntry.id == retry_id))
                    return "duplicate"
                if retry_id is None and s.scalar(
                    select(RetryEntry.id).where(
                        RetryEntry.queue == queue, RetryEntry.message_id == event.id
                    )
                ):
                    return "already-parked"  # a redelivery of a message waiting to be retried
                s.add(
                    InboxEntry(
                        queue=queue,
                        message_id=event.id,
                        event_type=event.type,
                        correlation_id=event.correlation_id,
                        handled_at=utcnow(),
                    )
                )
                s.flush()  # a concurrent twin blocks here, then fails: a duplicate
                handler(s, event, self.context)
                if retry_id is not None:
                    s.execute(delete(RetryEntry).where(RetryEntry.id == retry_id))
            log.debug("handled", extra={"event_type": event.type, "message_id": str(event.id)})
            return "applied"
        except IntegrityError:
            with self.db.transaction() as s:
                if s.get(InboxEntry, (queue, event.id)) is None:
                    raise  # not the inbox key: a real failure, retried like any other
                if retry_id is not None:
                    s.execute(delete(RetryEntry).where(RetryEntry.id == retry_id))
            return "duplicate"
        except Exception as exc:
            attempts += 1
            log.warning(
                "handler failed",
                exc_info=True,
                extra={
                    "event_type": event.type,
                    "message_id": str(event.id),
                    "queue": queue,
                    "attempt": attempts,
                },
            )
            return self._failed(queue, body, event, attempts, exc, retry_id)
        finally:
            correlation_id_var.reset(tokens[0])
            causation_id_var.reset(tokens[1])

    def _failed(
        self,
        queue: str,
        body: dict[str, Any],
        event: Event,
        attempts: int,
        exc: BaseException,
        retry_id: uuid.UUID | None,
    ) -> str:
        error = _error_text(exc)
        if attempts >= self.settings.bus_max_attempts:
            return self.dead_letter(queue, body, "handler_failed", error, attempts, retry_id)
        due = utcnow() + timedelta(seconds=backoff_seconds(self.settings, attempts))
        with self.db.transaction() as s:
            row = s.get(RetryEntry, retry_id) if retry_id is not None else None
            if row is None:
                row = RetryEntry(
                    queue=queue, message_id=event.id, event_type=event.type, envelope=body
                )
                s.add(row)
            row.attempts = attempts
            row.next_attempt_at = due
            row.last_error = error
        return "retry"

    def dead_letter(
        self,
        queue: str,
        envelope: dict[str, Any],
        reason: str,
        error: str,
        attempts: int,
        retry_id: uuid.UUID | None = None,
    ) -> str:
        mid = envelope.get("id") if isinstance(envelope, dict) else None
        try:
            message_id = uuid.UUID(str(mid)) if mid else None
        except ValueError:
            message_id = None
        with self.db.transaction() as s:
            record_dead_letter(
                s,
                queue=queue,
                envelope=envelope,
                message_id=message_id,
                event_type=envelope.get("type") if isinstance(envelope.get("type"), str) else None,
                reason=reason,
                error=error,
                attempts=attempts,
            )
            if retry_id is not None:
                s.execute(delete(RetryEntry).where(RetryEntry.id == retry_id))
        log.error(
            "message dead-lettered",
            extra={
                "queue": queue,
                "message_id": str(message_id),
                "reason": reason,
                "error": error.splitlines()[0] if error else "",
            },
        )
        return "dead-letter"

    # -- retries -----------------------------------------------------------------------
    def run_due_retries(self, limit: int = 20) -> int:
        """Attempt parked messages whose time has come; returns how many were tried."""
        queues = list(self.handlers)
        if not queues:
            return 0
        with self.db.transaction() as s:
            q = (
                select(RetryEntry.id)
                .where(RetryEntry.queue.in_(queues), RetryEntry.next_attempt_at <= utcnow())
                .order_by(RetryEntry.next_attempt_at)
                .limit(limit)
            )
            due = list(s.scalars(q))
        tried = 0
        for retry_id in due:
            with self.db.transaction() as s:
                q = select(RetryEntry).where(RetryEntry.id == retry_id)
                if self.db.dialect == "postgresql":
                    q = q.with_for_update(skip_locked=True)
                row = s.scalar(q)
                if row is None or row.next_attempt_at > utcnow():
                    continue
                # Push it out while we try, so a replica does not take it meanwhile.
                row.next_attempt_at = utcnow() + timedelta(
                    seconds=max(self.settings.bus_retry_max_seconds, 60)
                )
                queue, body, attempts = row.queue, dict(row.envelope), row.attempts
            try:
                fields = parse_envelope(body)
            except BadEnvelope as exc:
                self.dead_letter(queue, body, "bad_envelope", str(exc), attempts, retry_id)
                continue
            self._attempt(queue, body, fields, attempts=attempts, retry_id=retry_id)
            tried += 1
        return tried


def record_dead_letter(
    s: Session,
    *,
    queue: str,
    envelope: dict[str, Any],
    message_id: uuid.UUID | None,
    event_type: str | None,
    reason: str,
    error: str,
    attempts: int,
) -> DeadLetter:
    """Insert (or revive, for a replayed message that failed again) a dead letter."""
    row = None
    if message_id is not None:
        row = s.scalar(
            select(DeadLetter).where(DeadLetter.queue == queue, DeadLetter.message_id == message_id)
        )
    if row is None:
        row = DeadLetter(queue=queue, message_id=message_id, envelope=envelope)
        s.add(row)
    row.event_type = event_type
    row.reason = reason
    row.error = error
    row.attempts = attempts
    row.status = "dead"
    row.created_at = utcnow()
    return row


class Consumer:
    """One service's bus consumer; ``run`` is a worker loop (reconnects with backoff)."""

    def __init__(
        self,
        service: str,
        settings: Settings,
        db: Database,
        *,
        topology: Topology,
        registry: Registry,
        context: HandlerContext | None = None,
    ) -> None:
        self.settings = settings
        self.topology = topology
        self.dispatcher = Dispatcher(service, settings, db, topology, registry, context)
        self.service = service
        #: how often parked messages are looked at (a fraction of the first backoff)
        self.retry_check_seconds = min(0.5, max(settings.bus_retry_base_seconds / 4, 0.02))
        #: deliveries drained but not yet applied: (queue name, kombu message)
        self._pending: list[tuple[str, Any]] = []

    @property
    def has_work(self) -> bool:
        return bool(self.dispatcher.handlers)

    def _on_message(self, queue: str) -> Callable[[Any], None]:
        def on_message(message: Any) -> None:
            self._pending.append((queue, message))  # applied by _apply_pending

        return on_message

    def _drain(self, conn: Any) -> None:
        """Wait briefly for a delivery, then take whatever else is already there."""
        with contextlib.suppress(TimeoutError):  # socket.timeout is one
            conn.drain_events(timeout=0.2)
        while self._pending and len(self._pending) < PREFETCH:
            try:
                conn.drain_events(timeout=0)
            except TimeoutError:
                break

    def _apply_pending(self) -> None:
        """Apply the drained deliveries queue by queue, in order; ack each once committed.

        A message is acked only after its transaction committed: if applying raises (the
        database is unusable) the rest stay unacked and the broker redelivers them.
        """
        pending, self._pending = self._pending, []
        by_queue: dict[str, list[Any]] = {}
        for queue, message in pending:
            by_queue.setdefault(queue, []).append(message)
        for queue, messages in by_queue.items():
            if len(messages) < BATCH_MIN:
                for message in messages:
                    self.dispatcher.receive(queue, message.body)
                    message.ack()
                continue
            self.dispatcher.receive_batch(queue, [m.body for m in messages])
            for message in messages:
                message.ack()

    def _on_dead_letter(self, message: Any) -> None:
        """RabbitMQ dead-lettered a message (e.g. delivery limit): record it, then ack."""
        headers = message.headers or {}
        original = headers.get("x-first-death-queue") or message.delivery_info.get(
            "routing_key", "?"
        )
        reason = str(headers.get("x-first-death-reason") or "dead-lettered")
        try:
            envelope = json.loads(message.body)
            if not isinstance(envelope, dict):
                envelope = {"raw": repr(envelope)}
        except ValueError:
            envelope = {"raw": message.body.decode("utf-8", "replace")[:100_000]}
        self.dispatcher.dead_letter(
            str(original),
            envelope,
            f"broker_{reason}"[:40],
            f"RabbitMQ dead-lettered it ({reason}); deaths: {headers.get('x-death')}"[:8000],
            0,
        )
        message.ack()

    def _consumers(self, channel: Any) -> list[KombuConsumer]:
        out = []
        for sub in self.topology.subscriptions:
            name = self.topology.queue_name(sub.service, sub.purpose)
            if sub.service == self.service and name in self.dispatcher.handlers:
                out.append(
                    KombuConsumer(
                        channel,
                        [self.topology.queue(sub)],
                        on_message=self._on_message(name),
                        prefetch_count=PREFETCH,
                        no_ack=False,
                    )
                )
        if self.topology.server and out:
            out.append(
                KombuConsumer(
                    channel,
                    [self.topology.dead_letter_queue(self.service)],
                    on_message=self._on_dead_letter,
                    # basic.qos is per channel: each consumer's applies to the consumes
                    # after it, and all are made before the first consume. One value.
                    prefetch_count=PREFETCH,
                )
            )
        return out

    def run(self, stop: threading.Event) -> None:
        backoff = Backoff(base=0.1, cap=5.0)
        while not stop.is_set():
            conn = None
            try:
                conn = connect(self.settings)
                conn.ensure_connection(max_retries=1, timeout=3)
                channel = conn.channel()
                self.topology.declare(channel)
                consumers = self._consumers(channel)
                # Unacked deliveries of a lost connection come again; deliveries may
                # arrive while the next consumer is being registered, so clear first.
                self._pending = []
                for c in consumers:
                    c.consume()
                backoff.succeeded()
                next_retries = 0.0
                while not stop.is_set():
                    if time.monotonic() >= next_retries:
                        self.dispatcher.run_due_retries()
                        next_retries = time.monotonic() + self.retry_check_seconds
                    self._drain(conn)
                    self._apply_pending()
                    if not self.settings.embedded_broker:
                        conn.heartbeat_check()  # rate-limited by py-amqp
            except Exception as exc:
                log.warning(
                    "consumer interrupted; reconnecting",
                    extra={"error": f"{type(exc).__name__}: {exc}"[:300], "service": self.service},
                )
                backoff.pause(stop)
            finally:
                try:
                    if conn is not None:
                        conn.release()
                except Exception:  # the connection may already be dead
                    log.debug("closing consumer connection failed", exc_info=True)
