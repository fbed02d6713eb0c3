"""The two units of work: reads never take the write lock and cannot write; a write that
cannot get its lock gives up within the lock timeout (the web answers 503 for it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from shared.db import Database, is_lock_unavailable
from shared.web import create_component_app, current_db
from tests.support.backends import Backend

meta = MetaData()
things = Table("things", meta, Column("id", Integer, primary_key=True), Column("n", Integer))


@pytest.fixture
def dbs(backend: Backend) -> Iterator[tuple[Database, Database]]:
    """Two components' worth of pools on one database: ours (0.2 s lock timeout) and
    another writer's, each with its own connections."""
    url = backend.settings().database_url("catalogue")
    db, other = Database(url, lock_timeout=0.2), Database(url, lock_timeout=0.2)
    meta.create_all(db.engine)
    with db.transaction() as s:
        s.execute(insert(things).values(id=1, n=0))
    yield db, other
    db.dispose()
    other.dispose()


def _take_write_lock(s: Session) -> None:
    """What a writer holds: SQLite's database write lock (its BEGIN IMMEDIATE), a row
    lock on PostgreSQL."""
    s.execute(update(things).where(things.c.id == 1).values(n=1))


def _count(db: Database) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(things)) or 0)


def test_a_read_does_not_wait_for_a_writer(dbs: tuple[Database, Database]) -> None:
    db, other = dbs
    with other.transaction() as holder:
        _take_write_lock(holder)
        with db.read() as s:  # with a 0.2 s busy/lock timeout: would raise if it waited
            assert s.scalar(select(things.c.n)) == 0  # the snapshot before the write
    with db.read() as s:
        assert s.scalar(select(things.c.n)) == 1


def test_a_write_gives_up_when_the_lock_stays_taken(dbs: tuple[Database, Database]) -> None:
    db, other = dbs
    with other.transaction() as holder:
        _take_write_lock(holder)
        with pytest.raises(OperationalError) as caught, db.transaction() as s:
            s.execute(update(things).where(things.c.id == 1).values(n=2))
    assert is_lock_unavailable(caught.value)
    with db.read() as s:
        assert s.scalar(select(things.c.n)) == 1  # the holder's write, not ours


def test_a_read_cannot_write(dbs: tuple[Database, Database]) -> None:
    db, _ = dbs
    with pytest.raises(DBAPIError) as caught, db.read() as s:
        s.execute(insert(things).values(id=2, n=0))
    assert not is_lock_unavailable(caught.value)  # a bug, not load: a 500, never a 503
    assert _count(db) == 1


def test_a_pooled_connection_writes_again_after_a_read(dbs: tuple[Database, Database]) -> None:
    db, _ = dbs
    with db.read() as s:
        used = s.connection().connection.dbapi_connection
    with db.transaction() as s:
        assert s.connection().connection.dbapi_connection is used  # pooled, not a new one
        s.execute(insert(things).values(id=2, n=0))
    assert _count(db) == 2


def test_only_lock_errors_count_as_lock_unavailable() -> None:
    assert not is_lock_unavailable(RuntimeError("database is locked"))
    assert not is_lock_unavailable(OperationalError("SELECT 1", {}, Exception("gone")))


def _sneaky_blueprint() -> Blueprint:
    bp = Blueprint("sneaky", __name__, url_prefix="/api/sneaky")

    @bp.route("")
    class Sneaky(MethodView):
        def get(self) -> dict[str, str]:
            with current_db().read() as s:
                s.execute(text("CREATE TABLE sneaky (id INTEGER)"))
            return {}

    return bp


def test_a_read_view_that_writes_is_a_500_not_a_503(backend: Backend) -> None:
    app = create_component_app(
        "catalogue", title="test", settings=backend.settings(), blueprints=[_sneaky_blueprint()]
    )
    try:
        resp = app.test_client().get("/api/sneaky")
        assert resp.status_code == 500
        assert resp.mimetype == "application/problem+json"
        assert "Retry-After" not in resp.headers
    finally:
        app.extensions["eyhub"].db.dispose()
