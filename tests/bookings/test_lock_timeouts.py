"""Under a held write lock, reads still answer and writes answer 503 + Retry-After in
time (never a worker hung on the lock, never a 500)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select

from services.bookings.models import SessionReplica
from shared.db import Database
from tests.bookings.conftest import HUB, BookingsApp


@pytest.fixture
def impatient(bookings_app: BookingsApp) -> Iterator[BookingsApp]:
    """The app's requests use a 0.2 s lock timeout, so a blocked write answers at once.

    ``bookings_app.db`` stays the app's original pool: a second writer for the tests.
    """
    rt = bookings_app.app.extensions["eyhub"]
    patient = rt.db
    rt.db = Database(patient.url, name=patient.name, lock_timeout=0.2)
    try:
        yield bookings_app
    finally:
        rt.db.dispose()
        rt.db = patient


@contextmanager
def write_lock_held(bapp: BookingsApp, session_id: uuid.UUID) -> Iterator[None]:
    """Another connection mid-write on the session: on SQLite that is the database's
    write lock (BEGIN IMMEDIATE), on PostgreSQL the session's row lock."""
    with bapp.db.transaction() as s:
        s.execute(select(SessionReplica).where(SessionReplica.id == session_id).with_for_update())
        yield


def test_reads_answer_while_a_writer_holds_the_lock(impatient: BookingsApp) -> None:
    session = impatient.add_session(capacity=5)
    token = impatient.token()
    assert impatient.book(token, session["id"]).status_code == 201
    lead = impatient.headers(impatient.lead_token(HUB))
    with write_lock_held(impatient, session["id"]):
        avail = impatient.client.get(f"/api/bookings/sessions/{session['id']}/availability")
        mine = impatient.client.get("/api/bookings", headers=impatient.headers(token))
        roster = impatient.client.get(
            f"/api/bookings/sessions/{session['id']}/roster", headers=lead
        )
    assert avail.status_code == 200, avail.get_json()
    assert avail.get_json()["confirmed"] == 1
    assert mine.status_code == 200, mine.get_json()
    assert len(mine.get_json()["items"]) == 1
    assert roster.status_code == 200, roster.get_json()
    assert roster.get_json()["confirmed"] == 1


def test_a_write_that_cannot_get_its_lock_answers_503(impatient: BookingsApp) -> None:
    session = impatient.add_session(capacity=5)
    token = impatient.token()
    with write_lock_held(impatient, session["id"]):
        resp = impatient.book(token, session["id"])
    assert resp.status_code == 503, resp.get_json()
    assert resp.mimetype == "application/problem+json"
    assert resp.headers["Retry-After"] == "2"
    assert resp.get_json()["type"] == "urn:eyhub:problem:database-busy"
    assert impatient.bookings(session["id"]) == []  # nothing half-written
    retried = impatient.book(token, session["id"])  # as the client would, once it is free
    assert retried.status_code == 201, retried.get_json()
