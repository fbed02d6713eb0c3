"""Periodic jobs run on one replica at a time; one backoff policy for every retry."""

from __future__ import annotations

import threading
from typing import Any

from shared.db import Database
from shared.migrations import upgrade
from shared.retry import Backoff, backoff_delay, poll_until
from shared.singleton import singleton
from shared.worker import Worker


def _db(backend: Any) -> Database:
    settings = backend.settings()
    upgrade("bookings", settings, None)  # job_locks is a kernel table
    return Database(settings.database_url("bookings"), name="bookings")


def test_a_job_lock_is_held_by_one_replica_at_a_time(backend: Any) -> None:
    db = _db(backend)
    try:
        with singleton(db, "reminders") as mine:
            assert mine
            with singleton(db, "reminders", holder="other-replica") as theirs:
                assert not theirs  # the other replica skips this round
            with singleton(db, "prune", holder="other-replica") as other_job:
                assert other_job  # locks are per job
        with singleton(db, "reminders", holder="other-replica") as theirs:
            assert theirs  # released when the run ended
    finally:
        db.dispose()


def test_a_dead_holders_lease_expires_on_sqlite(embedded: Any) -> None:
    db = _db(embedded)
    try:
        with (
            singleton(db, "reminders", lease=0.0, holder="crashed"),
            singleton(db, "reminders") as mine,
        ):
            assert mine  # a holder past its lease no longer blocks the job
    finally:
        db.dispose()


class OneRound(threading.Event):
    """A stop flag that stops a periodic loop after its first round."""

    def wait(self, timeout: float | None = None) -> bool:
        self.set()
        return True


def test_worker_skips_a_singleton_job_another_replica_holds(embedded: Any) -> None:
    db = _db(embedded)
    worker = Worker(component="bookings", settings=embedded.settings(), db=db)
    runs: list[int] = []

    @worker.every(60.0, "reminders", singleton_lock=True)
    def _job() -> None:
        runs.append(1)

    try:
        with singleton(db, "bookings:reminders", holder="other-replica"):
            worker.loops["reminders"](OneRound())
        assert runs == []  # the other replica had it
        worker.loops["reminders"](OneRound())
        assert runs == [1]  # free again: this replica runs it
    finally:
        db.dispose()


def test_backoff_doubles_to_a_cap_and_resets() -> None:
    assert [backoff_delay(n, base=1, cap=5) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]
    b = Backoff(base=0.1, cap=0.4)
    assert [b.failed() for _ in range(4)] == [0.1, 0.2, 0.4, 0.4]
    b.succeeded()
    assert b.failed() == 0.1
    stop = threading.Event()
    stop.set()
    assert b.pause(stop)  # a stopping loop does not wait out its pause


def test_poll_until_returns_on_the_condition_or_the_timeout() -> None:
    calls = iter([False, False, True])
    assert poll_until(lambda: next(calls), 5.0, base=0.001)
    assert not poll_until(lambda: False, 0.01, base=0.001)
