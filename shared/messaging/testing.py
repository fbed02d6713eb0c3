"""Test helpers: wait for the bus instead of sleeping (after nameko's ``entrypoint_waiter``).

Handlers run in worker processes, so the waiters watch the consumer's database (the
``inbox`` rows its handlers commit with their effects, and ``dead_letters``)::

    with handled(bookings_db, "catalogue.session.scheduled"):
        client.post("/api/catalogue/events/.../publish")     # waits on exit

    wait_for_handled(db, message_id=event_id)               # a given event
    wait_until(lambda: count_rows() == 200, timeout=20)     # anything else
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from shared.db import Database
from shared.messaging.models import DeadLetter, InboxEntry, OutboxMessage, count_rows

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The condition did not hold in time (an assertion failure in a test)."""


def wait_until(
    predicate: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> T:
    """Poll ``predicate`` until it returns something truthy; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def _count(db: Database, model: type, *conditions: object) -> int:
    return count_rows(db, model, *conditions)


def handled_count(db: Database, event_type: str | None = None, *, queue: str | None = None) -> int:
    conditions = []
    if event_type is not None:
        conditions.append(InboxEntry.event_type == event_type)
    if queue is not None:
        conditions.append(InboxEntry.queue == queue)
    return _count(db, InboxEntry, *conditions)


def wait_for_handled(
    db: Database,
    *,
    message_id: uuid.UUID | str | None = None,
    event_type: str | None = None,
    count: int = 1,
    timeout: float = 10.0,
) -> None:
    """Wait until ``message_id`` (or ``count`` events of ``event_type``) were handled."""
    if message_id is not None:
        mid = uuid.UUID(str(message_id))
        wait_until(
            lambda: _count(db, InboxEntry, InboxEntry.message_id == mid),
            timeout=timeout,
            what=f"message {mid} to be handled",
        )
        return
    wait_until(
        lambda: handled_count(db, event_type) >= count,
        timeout=timeout,
        what=f"{count} {event_type or 'event'}(s) to be handled",
    )


@contextmanager
def handled(
    db: Database, event_type: str | None = None, *, count: int = 1, timeout: float = 10.0
) -> Iterator[None]:
    """Context manager: on exit, wait until ``count`` more ``event_type`` were handled."""
    before = handled_count(db, event_type)
    yield
    wait_until(
        lambda: handled_count(db, event_type) >= before + count,
        timeout=timeout,
        what=f"{count} more {event_type or 'event'}(s) to be handled",
    )


def wait_for_dead_letters(db: Database, count: int = 1, *, timeout: float = 10.0) -> None:
    wait_until(
        lambda: _count(db, DeadLetter, DeadLetter.status == "dead") >= count,
        timeout=timeout,
        what=f"{count} dead letter(s)",
    )


def wait_for_outbox_drained(db: Database, *, timeout: float = 10.0) -> None:
    """Wait until the relay has published everything written so far."""
    wait_until(
        lambda: _count(db, OutboxMessage, OutboxMessage.sent_at.is_(None)) == 0 or None,
        timeout=timeout,
        what="the outbox to drain",
    )
