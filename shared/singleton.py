"""Singleton locks: a periodic job runs on one replica at a time.

Several workers of a service may run (replicas, or an old and a new one during a
deploy); a reminder must still go out once. On PostgreSQL the job holds a session
advisory lock for its run; SQLite has no such thing, so a lease row in ``job_locks``
(taken under the database's write lock, expiring if its holder dies) stands in.
"""

from __future__ import annotations

import os
import socket
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import String, select, text, update
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import Database, KernelBase, UTCDateTime, utcnow

#: Who holds a lease: stable for the process, unique across hosts and restarts.
HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class JobLock(KernelBase):
    __tablename__ = "job_locks"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


def advisory_key(name: str) -> int:
    """A stable 32-bit key per job name (pg_try_advisory_lock takes a bigint)."""
    return zlib.crc32(f"eyhub-job:{name}".encode())


@contextmanager
def singleton(
    db: Database, name: str, *, lease: float = 300.0, holder: str = HOLDER
) -> Iterator[bool]:
    """Yield True if this process holds ``name`` for the block, False if another does.

    ``lease`` bounds how long a crashed holder blocks the job on SQLite; a run must
    finish well within it (PostgreSQL releases the lock with the dead connection).
    """
    if db.dialect == "postgresql":
        with db.engine.connect() as conn:
            key = advisory_key(name)
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            conn.commit()
            try:
                yield got
            finally:
                if got:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
        return
    got = _take_lease(db, name, lease, holder)
    try:
        yield got
    finally:
        if got:
            with db.transaction() as s:
                s.execute(
                    update(JobLock)
                    .where(JobLock.name == name, JobLock.holder == holder)
                    .values(expires_at=utcnow())
                )


def _take_lease(db: Database, name: str, lease: float, holder: str) -> bool:
    now = utcnow()
    with db.transaction() as s:  # BEGIN IMMEDIATE on SQLite: one taker at a time
        row = s.scalar(select(JobLock).where(JobLock.name == name))
        if row is None:
            s.add(JobLock(name=name, holder=holder, expires_at=now + timedelta(seconds=lease)))
            return True
        if row.holder != holder and row.expires_at > now:
            return False
        row.holder = holder
        row.expires_at = now + timedelta(seconds=lease)
        return True
