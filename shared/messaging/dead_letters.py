"""Dead letters: list, count and replay (``eyhub dead-letters SERVICE [--replay ID]``).

Replaying hands the message back to the service's worker through ``message_retries``
(attempt count reset, due now): the worker applies it with the same inbox transaction
as any delivery, so a replay of something that was in fact applied is a no-op, and a
replay needs no broker. If it fails again it returns to dead letters after the
configured attempts.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from shared.db import Database, utcnow
from shared.messaging.models import DeadLetter, RetryEntry, count_rows


class NotReplayable(ValueError):
    """The dead letter cannot be re-delivered (unknown id, or not an envelope)."""


def count(db: Database) -> int:
    return count_rows(db, DeadLetter, DeadLetter.status == "dead")


def list_dead_letters(db: Database, *, include_replayed: bool = False) -> list[dict[str, Any]]:
    with db.transaction() as s:
        q = select(DeadLetter).order_by(DeadLetter.created_at)
        if not include_replayed:
            q = q.where(DeadLetter.status == "dead")
        return [
            {
                "id": str(row.id),
                "queue": row.queue,
                "message_id": str(row.message_id) if row.message_id else None,
                "event_type": row.event_type,
                "reason": row.reason,
                "attempts": row.attempts,
                "status": row.status,
                "created_at": row.created_at.isoformat(),
                "error": row.error,
            }
            for row in s.scalars(q)
        ]


def replay(db: Database, dead_letter_id: uuid.UUID | str) -> dict[str, Any]:
    """Queue a dead letter for re-delivery by the worker; returns what was replayed."""
    try:
        key = uuid.UUID(str(dead_letter_id))
    except ValueError as exc:
        raise NotReplayable(f"{dead_letter_id!r} is not a dead-letter id") from exc
    with db.transaction() as s:
        row = s.get(DeadLetter, key)
        if row is None:
            raise NotReplayable(f"no dead letter {key}")
        if row.message_id is None or not isinstance(row.envelope.get("type"), str):
            raise NotReplayable(f"dead letter {key} is not an eyhub envelope ({row.reason})")
        existing = s.scalar(
            select(RetryEntry).where(
                RetryEntry.queue == row.queue, RetryEntry.message_id == row.message_id
            )
        )
        if existing is None:
            s.add(
                RetryEntry(
                    queue=row.queue,
                    message_id=row.message_id,
                    event_type=row.envelope["type"],
                    envelope=row.envelope,
                    attempts=0,
                    next_attempt_at=utcnow(),
                    last_error=None,
                    created_at=utcnow(),
                )
            )
        row.status = "replayed"
        row.replayed_at = utcnow()
        return {"id": str(row.id), "queue": row.queue, "message_id": str(row.message_id)}
