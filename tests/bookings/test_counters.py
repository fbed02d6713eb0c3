"""The session row's counters always equal what counting the bookings says.

Booking decides from ``held_count`` / ``waitlist_count`` alone (one conditional UPDATE),
so every path that moves a booking must keep them exact: a drift would oversell or
strand the waiting list.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from alembic import command
from sqlalchemy import column, insert, select, table

from services.bookings import MIGRATIONS
from services.bookings import operations as ops
from services.bookings.models import WAITLISTED, Booking, SessionReplica
from shared.db import Database
from shared.migrations import alembic_config, upgrade
from tests.bookings.conftest import BookingsApp, session_snapshot
from tests.support.backends import Backend


def _state(bapp: BookingsApp, session_id: Any) -> tuple[int, int]:
    """(held, waiting) from the counters, after checking them against the bookings."""
    sid = uuid.UUID(str(session_id))
    with bapp.db.read() as s:
        row = s.get(SessionReplica, sid)
        assert row is not None
        real = ops.count_bookings(s, sid)
        positions = sorted(
            p
            for p in s.scalars(
                select(Booking.waitlist_position).where(
                    Booking.session_id == sid, Booking.status == WAITLISTED
                )
            )
        )
    assert (row.held_count, row.waitlist_count) == (real["held"], real["waitlisted"])
    assert positions == list(range(1, real["waitlisted"] + 1))  # dense: the next is count + 1
    avail = bapp.client.get(f"/api/bookings/sessions/{sid}/availability").get_json()
    assert (avail["confirmed"], avail["waitlisted"]) == (row.held_count, row.waitlist_count)
    return row.held_count, row.waitlist_count


def _change(bapp: BookingsApp, snap: dict[str, Any], **fields: Any) -> None:
    """The catalogue changes the session (as its bus event would be applied)."""
    snap.update(fields, sequence=snap["sequence"] + 1)
    with bapp.db.transaction() as s:
        ops.apply_session_snapshot(s, bapp.settings, snap)


def test_counters_follow_a_mixed_sequence(bookings_app: BookingsApp) -> None:
    bapp = bookings_app
    snap = bapp.add_session(capacity=2)
    sid = snap["id"]
    people = {name: bapp.token() for name in "ABCDEFGH"}
    made: dict[str, dict[str, Any]] = {}

    def book(name: str, **headers: str) -> str:
        resp = bapp.book(people[name], sid, **headers)
        assert resp.status_code in (200, 201), resp.get_json()
        made[name] = resp.get_json()
        return made[name]["status"]

    def cancel(name: str) -> None:
        resp = bapp.client.post(
            f"/api/bookings/{made[name]['id']}/cancel", headers=bapp.headers(people[name])
        )
        assert resp.status_code == 200, resp.get_json()

    assert [book(n) for n in "ABCDE"] == ["confirmed"] * 2 + ["waitlisted"] * 3
    assert _state(bapp, sid) == (2, 3)
    # Refusals and replays change nothing.
    assert bapp.book(people["A"], sid).status_code == 409
    book("H", **{"Idempotency-Key": "k1"})
    assert bapp.book(people["H"], sid, **{"Idempotency-Key": "k1"}).status_code == 200
    assert _state(bapp, sid) == (2, 4)
    cancel("H")
    cancel("D")  # from the middle of the waiting list: the rest close up
    assert _state(bapp, sid) == (2, 2)
    cancel("A")  # a place frees: C (head of the list) is promoted
    assert _state(bapp, sid) == (2, 1)
    _change(bapp, snap, capacity=4)  # room for E too
    assert _state(bapp, sid) == (3, 0)
    assert [book("F"), book("G")] == ["confirmed", "waitlisted"]
    assert _state(bapp, sid) == (4, 1)
    _change(bapp, snap, capacity=3)  # fewer places: nobody is bumped, nobody promoted
    assert _state(bapp, sid) == (4, 1)
    cancel("B")  # still full (3 of 3): G keeps waiting
    assert _state(bapp, sid) == (3, 1)
    cancel("B")  # a retried cancel changes nothing
    assert _state(bapp, sid) == (3, 1)
    cancel("G")
    assert _state(bapp, sid) == (3, 0)

    bapp.set_past(sid)
    resp = bapp.client.post(
        f"/api/bookings/sessions/{sid}/attendance",
        json={
            "records": [
                {"booking_id": made["C"]["id"], "attended": True},
                {"booking_id": made["E"]["id"], "attended": False},
            ]
        },
        headers=bapp.headers(bapp.lead_token()),
    )
    assert resp.status_code == 200, resp.get_json()
    assert _state(bapp, sid) == (3, 0)  # attended and no-show still hold their places


def test_a_cancelled_session_counts_nothing(bookings_app: BookingsApp) -> None:
    bapp = bookings_app
    sid = bapp.add_session(capacity=1)["id"]
    for _ in range(3):
        assert bapp.book(bapp.token(), sid).status_code == 201
    assert _state(bapp, sid) == (1, 2)
    with bapp.db.transaction() as s:
        ops.apply_session_cancelled(s, bapp.settings, sid, reason="Snow")
    assert _state(bapp, sid) == (0, 0)


@pytest.mark.unmigrated
def test_the_migration_counts_existing_bookings(backend: Backend) -> None:
    """Upgrading a database that already has bookings fills the counters from them."""
    settings = backend.settings()
    url = settings.database_url("bookings")
    upgrade("bookings", settings, None)  # the kernel's tables
    command.upgrade(alembic_config(MIGRATIONS, url), "boo0002")  # before the counters
    snap = session_snapshot(capacity=2, cpd_hours=2)
    replica = SessionReplica.__table__
    old_columns = [c for c in replica.columns if c.name not in ("held_count", "waitlist_count")]
    old_sessions = table("sessions", *(column(c.name, c.type) for c in old_columns))
    db = Database(url)
    try:
        with db.engine.begin() as conn:
            conn.execute(
                insert(old_sessions).values(
                    {
                        **{c.name: snap[c.name] for c in old_columns if c.name in snap},
                        "updated_at": snap["starts_at"],
                    }
                )
            )
            statuses = ["confirmed", "attended", "waitlisted", "waitlisted", "cancelled"]
            # The bookings table as boo0002 made it (no columns of later revisions).
            old_bookings = table(
                "bookings",
                *(
                    column(n, Booking.__table__.c[n].type)
                    for n in (
                        "id",
                        "session_id",
                        "user_id",
                        "user_email",
                        "user_name",
                        "status",
                        "waitlist_position",
                        "funding",
                        "price_pence",
                        "created_at",
                        "updated_at",
                    )
                ),
            )
            conn.execute(
                insert(old_bookings),
                [
                    {
                        "id": uuid.uuid4(),
                        "session_id": snap["id"],
                        "user_id": f"u{i}",
                        "status": status,
                        "waitlist_position": i - 1 if status == WAITLISTED else None,
                        "user_email": "",
                        "user_name": "",
                        "funding": "free",
                        "price_pence": 0,
                        "created_at": snap["starts_at"],
                        "updated_at": snap["starts_at"],
                    }
                    for i, status in enumerate(statuses)
                ],
            )
        upgrade("bookings", settings, MIGRATIONS)
        with db.read() as s:
            stored = s.get(SessionReplica, snap["id"])
            assert stored is not None
            assert (stored.held_count, stored.waitlist_count) == (2, 2)
    finally:
        db.dispose()
