"""Reads of the bookings service: each opens its read-only unit of work.

The API calls these (and the state changes in ``operations``) and touches no session
itself. A read never takes the write lock (``Database.read``); the one exception is
availability of a session not replicated yet, read through from the catalogue once.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.bookings import feeds, invites, records
from services.bookings import operations as ops
from services.bookings.models import ENDED, Booking, SessionReplica
from shared.auth import Identity
from shared.calendar import build_calendar
from shared.config import Settings
from shared.db import Database, utcnow


def bookings_page(db: Database, who: Identity, args: dict[str, Any]) -> dict[str, Any]:
    """Own bookings; with ``session_id`` the whole session's for its hub's lead."""
    with db.read() as s:
        items, cursor = ops.list_bookings(
            s,
            who,
            session_id=args.get("session_id"),
            status=args.get("status"),
            limit=args["limit"],
            cursor=args.get("cursor"),
        )
    return {"items": items, "next_cursor": cursor}


def booking(db: Database, who: Identity, booking_id: uuid.UUID) -> Booking:
    with db.read() as s:
        return ops.visible_booking(s, who, booking_id)


def booking_calendar(
    db: Database, settings: Settings, who: Identity, booking_id: uuid.UUID
) -> bytes:
    """Your booking as a calendar file to open or import (METHOD:PUBLISH), with the
    invites' UID and last SEQUENCE, so a calendar that already has the invite updates
    the event instead of adding a second one. Others' bookings answer 404."""
    with db.read() as s:
        row = s.get(Booking, booking_id)
        if row is None or row.user_id != who.user_id:
            raise ops.not_found()
        item = invites.invite_item(
            settings,
            row.session,
            booking_id=row.id,
            email=row.user_email,
            name=row.user_name,
            method="CANCEL" if row.status in ENDED else "REQUEST",
            sequence=row.invite_sequence or 0,
        )
    return build_calendar([item], method="PUBLISH")


def hub_availability(
    db: Database, hub_id: uuid.UUID, since: datetime | None, limit: int
) -> dict[str, Any]:
    """Places taken and left on a hub's sessions ending after ``since`` (default: the
    last 31 days and everything ahead), from the sessions' counters: a programme page
    shows every session's figures with one call."""
    since = since or utcnow() - timedelta(days=31)
    with db.read() as s:
        rows = s.scalars(
            select(SessionReplica)
            .where(SessionReplica.hub_id == hub_id, SessionReplica.ends_at > since)
            .order_by(SessionReplica.starts_at, SessionReplica.id)
            .limit(limit)
        )
        return {"items": [ops.availability(s, row) for row in rows]}


def availability(
    db: Database, session_id: uuid.UUID, fetch: ops.SessionFetcher | None
) -> dict[str, Any]:
    """Places left; a session not replicated yet is read through from the catalogue."""
    with db.read() as s:
        row = s.get(SessionReplica, session_id)
        if row is not None:
            return ops.availability(s, row)
    ops.ensure_session(db, session_id, fetch)
    with db.read() as s:
        return ops.availability(s, s.get(SessionReplica, session_id))  # type: ignore[arg-type]


def _led_session(s: Session, who: Identity, session_id: uuid.UUID) -> SessionReplica:
    """The session, if ``who`` leads its hub (404 unknown, 403 not theirs)."""
    row = s.get(SessionReplica, session_id)
    if row is None:
        raise ops.not_found("session")
    ops.require_lead(who, row)
    return row


def roster(db: Database, who: Identity, session_id: uuid.UUID) -> dict[str, Any]:
    with db.read() as s:
        return records.roster(s, _led_session(s, who, session_id))


def feedback_summary(db: Database, who: Identity, session_id: uuid.UUID) -> dict[str, Any]:
    with db.read() as s:
        _led_session(s, who, session_id)
        return records.feedback_summary(s, session_id)


def cpd_record(db: Database, who: Identity) -> dict[str, Any]:
    with db.read() as s:
        return records.cpd_record(s, who.user_id)


def live_feeds(db: Database, who: Identity, query: dict[str, Any]) -> dict[str, Any]:
    with db.read() as s:
        return {"items": feeds.live_feeds(s, who, **query), "next_cursor": None}
