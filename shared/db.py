"""Database access: one engine per component, the same code on SQLite and PostgreSQL.

Two units of work: ``Database.transaction()`` for writes and ``Database.read()`` for
reads. SQLite (the embedded default) is made to behave like a server database for our
purposes: WAL so readers never block the writer, foreign keys on, and every *write*
transaction opened with ``BEGIN IMMEDIATE`` so read-then-write code (booking the last
place) serialises instead of failing with "database is locked" halfway through. Reads
open a deferred ``BEGIN`` on a ``query_only`` connection: they read a WAL snapshot, never
take the write lock and cannot write. On PostgreSQL reads are ``READ ONLY`` transactions.

Connections are pooled on both backends (a connection per thread in use, reused across
requests). A write waits at most ``lock_timeout`` seconds for a lock (SQLite
``busy_timeout``, PostgreSQL ``lock_timeout``); then it fails with an error
``is_lock_unavailable`` recognises, which the web layer answers with 503 + Retry-After
(``shared/problems.py``) and a worker retries with backoff.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Seconds a component's write waits for a lock before it gives up. Healthy transactions
#: hold locks for milliseconds, so 5 s only runs out in a jam (a stuck transaction, a
#: migration's table lock); failing then frees the web thread well before gunicorn's 60 s
#: worker timeout and before a client gives up, and the caller learns to retry (503).
DEFAULT_LOCK_TIMEOUT = 5.0
#: SQLite's busy timeout for engines made without a lock timeout (migrations, scripts).
_SQLITE_UNBOUNDED_BUSY_MS = 30_000
#: Execution option set on read-only units of work (``Database.read``).
READ_ONLY = "eyhub_read_only"
#: Pooled connections per engine; SQLite connections are cheap, PostgreSQL's are counted
#: against ``max_connections`` (replicas * processes * this).
POOL_SIZE = 10
MAX_OVERFLOW = 10

#: PostgreSQL SQLSTATEs of a lock not granted: lock_not_available (lock_timeout ran out)
#: and deadlock_detected (the server broke a cycle). Both succeed when retried.
_PG_LOCK_STATES = frozenset({"55P03", "40P01"})
#: SQLite primary result codes of a lock not granted: SQLITE_BUSY, SQLITE_LOCKED.
_SQLITE_LOCK_CODES = frozenset({5, 6})


def new_metadata() -> MetaData:
    """Metadata with stable constraint names, so Alembic migrations diff cleanly."""
    return MetaData(naming_convention=NAMING_CONVENTION)


class KernelBase(DeclarativeBase):
    """Tables every component's database has (outbox, inbox, dead letters, mail)."""

    metadata = new_metadata()


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def is_lock_unavailable(exc: BaseException) -> bool:
    """True if ``exc`` is a database lock not granted in time: transient, worth a retry.

    Takes the SQLAlchemy error or the driver's own (``.orig``). Other operational errors
    (a read-only transaction asked to write, a lost connection) are not lock waits.
    """
    orig = getattr(exc, "orig", None) or exc
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        if code is None:  # pragma: no cover - Python < 3.11
            return "locked" in str(orig)
        return code & 0xFF in _SQLITE_LOCK_CODES
    return getattr(orig, "sqlstate", None) in _PG_LOCK_STATES


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()
        record.info["query_only"] = False

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # The pooled connection remembers its mode: switch only when it changes.
        read_only = bool(conn.get_execution_options().get(READ_ONLY))
        if conn.info.get("query_only") != read_only:
            conn.exec_driver_sql(f"PRAGMA query_only={'ON' if read_only else 'OFF'}")
            conn.info["query_only"] = read_only
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


#: Every engine made here, so a forked child can drop the parent's pooled connections.
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _forget_inherited_connections() -> None:
    """In a forked child: a connection (or SQLite file lock) shared with the parent
    corrupts both sides, so start with empty pools and leave the parent's alone."""
    for engine in list(_ENGINES):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_connections)


def make_engine(url: str, *, lock_timeout: float | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url``; ``lock_timeout`` (seconds) bounds every lock wait.

    Without ``lock_timeout`` (migrations, which wait for each other on an advisory lock)
    PostgreSQL waits as long as it takes and SQLite 30 s.
    """
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            if "poolclass" not in kwargs:  # SQLAlchemy's QueuePool for a file database
                kwargs.setdefault("pool_size", POOL_SIZE)
                kwargs.setdefault("max_overflow", MAX_OVERFLOW)
        busy_ms = _SQLITE_UNBOUNDED_BUSY_MS if lock_timeout is None else round(lock_timeout * 1000)
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine, busy_ms)
        _ENGINES.add(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", POOL_SIZE)
    kwargs.setdefault("max_overflow", MAX_OVERFLOW)
    if lock_timeout is not None:
        # A session default set at connect: no extra round trip per transaction.
        connect_args = dict(kwargs.pop("connect_args", {}))
        option = f"-c lock_timeout={max(1, round(lock_timeout * 1000))}"  # 0 = wait forever
        connect_args["options"] = " ".join(filter(None, [connect_args.get("options"), option]))
        kwargs["connect_args"] = connect_args
    engine = create_engine(url, **kwargs)
    _ENGINES.add(engine)
    return engine


class Database:
    """One component's database: engine, sessions, and its two units of work."""

    def __init__(
        self, url: str, *, name: str = "", lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> None:
        self.url = url
        self.name = name
        self.lock_timeout = lock_timeout
        self.engine = make_engine(url, lock_timeout=lock_timeout)
        read_options: dict[str, Any] = {READ_ONLY: True}
        if self.engine.dialect.name == "postgresql":
            read_options["postgresql_readonly"] = True  # BEGIN READ ONLY
        #: The same pool, every transaction read-only (for Core reads, e.g. counts).
        self.read_engine = self.engine.execution_options(**read_options)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        return self._sessions()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """The write unit of work: commit on success, roll back on any exception.

        On SQLite it holds the write lock from its first statement (``BEGIN IMMEDIATE``),
        so keep it short and use ``read()`` for anything that only reads.
        """
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """The read unit of work: a consistent snapshot that takes no write lock.

        A GET never queues behind writers (nor they behind it), and any attempt to write
        through it fails (SQLite ``query_only``, PostgreSQL ``READ ONLY``) instead of
        silently taking the lock.
        """
        with self._readers() as session, session.begin():
            yield session

    def ping(self) -> None:
        with self.read_engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            conn.rollback()

    def dispose(self) -> None:
        self.engine.dispose()
