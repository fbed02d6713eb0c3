"""Kernel tables of the messaging layer (every component database has them, migration k0002).

- ``outbox``: events written in the producer's transaction, published by the relay.
  ``position`` (autoincrement) is the publishing order.
- ``inbox``: ids of messages a queue has applied; the insert shares the handler's
  transaction, so a redelivery finds the row and does nothing.
- ``message_retries``: messages whose handler failed, waiting for their next attempt
  (taken off the broker so the messages behind them keep flowing).
- ``dead_letters``: messages given up on (handler kept failing, unknown type/version,
  undecodable, or dead-lettered by RabbitMQ), listed and replayed by ``eyhub dead-letters``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.pool import NullPool

from shared.db import Database, KernelBase, UTCDateTime, new_id, utcnow

#: BIGINT identity on PostgreSQL, INTEGER PRIMARY KEY (rowid) on SQLite.
Position = BigInteger().with_variant(Integer(), "sqlite")


class OutboxMessage(KernelBase):
    __tablename__ = "outbox"

    position: Mapped[int] = mapped_column(Position, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(unique=True, default=new_id)
    event_type: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    correlation_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    causation_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class InboxEntry(KernelBase):
    __tablename__ = "inbox"

    queue: Mapped[str] = mapped_column(String(200), primary_key=True)
    message_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    event_type: Mapped[str] = mapped_column(String(200))
    correlation_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    handled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class RetryEntry(KernelBase):
    __tablename__ = "message_retries"
    __table_args__ = (UniqueConstraint("queue", "message_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    queue: Mapped[str] = mapped_column(String(200))
    message_id: Mapped[uuid.UUID] = mapped_column()
    event_type: Mapped[str] = mapped_column(String(200))
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeadLetter(KernelBase):
    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_status", "status"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    queue: Mapped[str] = mapped_column(String(200))
    message_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    event_type: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: the envelope as received (a JSON object), or ``{"raw": text}`` when undecodable
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(40))
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="dead")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


_readers: dict[str, Engine] = {}


def reader(db: Database) -> Engine:
    """An engine for lock-free counts (readiness, gauges, test waiters).

    The kernel opens every SQLite transaction with ``BEGIN IMMEDIATE`` (the write lock),
    so a read through it waits behind any long write, e.g. a handler in progress. A plain
    pysqlite engine reads a WAL snapshot without taking a lock.
    """
    if db.dialect != "sqlite":
        return db.engine
    engine = _readers.get(db.url)
    if engine is None:
        engine = create_engine(db.url, poolclass=NullPool)
        _readers[db.url] = engine
    return engine


def count_rows(db: Database, model: type, *conditions: Any) -> int:
    with reader(db).connect() as conn:
        q = select(func.count()).select_from(model).where(*conditions)
        n = conn.execute(q).scalar_one()
        conn.rollback()
        return int(n)
