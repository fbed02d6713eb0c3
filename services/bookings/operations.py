"""Every state change of the bookings service (the API and the bus handlers both call these).

Concurrency rule: any change that moves a booking into or out of a place or the waiting
list first locks the session's replica row (``SELECT ... FOR UPDATE`` on PostgreSQL;
on SQLite every transaction already holds the write lock from ``BEGIN IMMEDIATE``).
Counting confirmed places under that lock is what makes overbooking impossible; the
partial unique index on (user, session) for active bookings backs the one-booking rule.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.bookings import notify, publishing
from services.bookings.models import (
    ATTENDED,
    CANCELLABLE,
    CANCELLED,
    CONFIRMED,
    ENDED,
    HOLDING_PLACE,
    NO_SHOW,
    WAITLISTED,
    Booking,
    Feedback,
    SessionReplica,
)
from shared.auth import Identity
from shared.config import Settings
from shared.db import Database, new_id, utcnow
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import Problem

log = logging.getLogger("eyhub.bookings")

#: Fetches one session snapshot from the catalogue (None when it does not exist).
SessionFetcher = Callable[[uuid.UUID], Mapping[str, Any] | None]


def not_found(what: str = "booking") -> Problem:
    return Problem(404, "Not found", f"No such {what}.", kind="not-found")


def conflict(detail: str, kind: str = "conflict") -> Problem:
    return Problem(409, "Conflict", detail, kind=kind)


def request_fingerprint(body: Mapping[str, Any]) -> str:
    """Stable hash of a request body, to tell a replay from a reuse of the same key."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


# -- the session replica -----------------------------------------------------------
_SNAPSHOT_FIELDS = (
    "event_id",
    "hub_id",
    "hub_name",
    "title",
    "kind",
    "format",
    "summary",
    "topics",
    "starts_at",
    "ends_at",
    "capacity",
    "status",
    "event_status",
    "sequence",
    "price_pence",
    "funded_places",
    "cpd_hours",
    "venue",
    "online_url",
    "cancel_reason",
)


def lock_session(s: Session, session_id: uuid.UUID) -> SessionReplica | None:
    """The session row, locked for the rest of the transaction."""
    return s.scalar(
        select(SessionReplica)
        .where(SessionReplica.id == session_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _is_stale(row: SessionReplica, values: Mapping[str, Any]) -> bool:
    """An older picture of the session than the one we hold (out-of-order delivery)."""
    return int(values.get("sequence", row.sequence)) < row.sequence


def upsert_session(s: Session, snapshot: Mapping[str, Any]) -> tuple[SessionReplica, bool]:
    """Create or refresh the replica from a full snapshot; stale sequences are ignored.

    Returns the row and whether it was written. An equal sequence still applies
    (event fields such as the venue change without a reschedule). Cancellation is
    final: no later snapshot makes a cancelled session bookable again.
    """
    session_id = uuid.UUID(str(snapshot["id"]))
    row = lock_session(s, session_id)
    values = {k: snapshot[k] for k in _SNAPSHOT_FIELDS if k in snapshot}
    if "cpd_hours" in values and values["cpd_hours"] is not None:
        values["cpd_hours"] = Decimal(str(values["cpd_hours"]))
    if row is None:
        row = SessionReplica(id=session_id, **values)
        s.add(row)
        s.flush()
        return row, True
    if _is_stale(row, values):
        log.info("stale session snapshot ignored", extra={"session_id": str(session_id)})
        return row, False
    if row.status == "cancelled":
        values["status"] = "cancelled"
    for key, value in values.items():
        setattr(row, key, value)
    s.flush()
    return row, True


def ensure_session(
    db: Database, session_id: uuid.UUID, fetch: SessionFetcher | None
) -> SessionReplica:
    """The replica of a session, read through from the catalogue once if we lack it."""
    with db.transaction() as s:
        row = s.get(SessionReplica, session_id)
    if row is not None:
        return row
    snapshot = fetch(session_id) if fetch else None
    if snapshot is None:
        raise not_found("session")
    try:
        with db.transaction() as s:
            row, _ = upsert_session(s, snapshot)
    except IntegrityError:  # a concurrent request replicated it first
        with db.transaction() as s:
            row = s.get(SessionReplica, session_id)
        if row is None:
            raise
    return row


# -- counts ------------------------------------------------------------------------
def counts(s: Session, session_id: uuid.UUID) -> dict[str, int]:
    rows = s.execute(
        select(Booking.status, func.count())
        .where(Booking.session_id == session_id)
        .group_by(Booking.status)
    ).all()
    by_status = {status: int(n) for status, n in rows}
    return {
        "held": sum(by_status.get(st, 0) for st in HOLDING_PLACE),
        "confirmed": sum(by_status.get(st, 0) for st in HOLDING_PLACE),
        "waitlisted": by_status.get(WAITLISTED, 0),
    }


def availability(s: Session, row: SessionReplica) -> dict[str, Any]:
    c = counts(s, row.id)
    return {
        "session_id": row.id,
        "capacity": row.capacity,
        "confirmed": c["confirmed"],
        "waitlisted": c["waitlisted"],
        "remaining": max(0, row.capacity - c["held"]),
    }


# -- booking -----------------------------------------------------------------------
def _replay(s: Session, user_id: str, key: str, fingerprint: str) -> Booking | None:
    existing = s.scalar(
        select(Booking).where(Booking.user_id == user_id, Booking.idempotency_key == key)
    )
    if existing is None:
        return None
    if existing.request_fingerprint != fingerprint:
        raise Problem(
            422,
            "Invalid request",
            "This Idempotency-Key was already used with a different request body.",
            kind="idempotency-key-reused",
        )
    return existing


def _active_booking(s: Session, user_id: str, session_id: uuid.UUID) -> Booking | None:
    return s.scalar(
        select(Booking).where(
            Booking.user_id == user_id,
            Booking.session_id == session_id,
            Booking.status.not_in(ENDED),
        )
    )


def book(
    db: Database,
    settings: Settings,
    who: Identity,
    session_id: uuid.UUID,
    *,
    idempotency_key: str | None = None,
    fingerprint: str = "",
    fetch: SessionFetcher | None = None,
) -> tuple[Booking, bool]:
    """Book a place or join the waiting list; returns (booking, created)."""
    with db.transaction() as s:
        if idempotency_key:
            replay = _replay(s, who.user_id, idempotency_key, fingerprint)
            if replay is not None:
                return replay, False
        seen = s.get(SessionReplica, session_id)
    prepared = None
    if seen is not None and seen.bookable_problem is None:
        prepared = notify.prepare_confirmation(
            settings, seen, booking_id=new_id(), email=who.email, name=who.name
        )
    for attempt in (1, 2):
        try:
            with db.transaction() as s:
                booking = _book_locked(
                    s, settings, who, session_id, idempotency_key, fingerprint, prepared
                )
        except _NotReplicated:
            if attempt == 2:  # pragma: no cover - replicas are never deleted
                raise not_found("session") from None
            ensure_session(db, session_id, fetch)  # read through, then try again
            continue
        except IntegrityError:
            # Lost a race the lock could not see (the same key on two sessions):
            # answer as the winner's request was answered.
            with db.transaction() as s:
                if idempotency_key:
                    replay = _replay(s, who.user_id, idempotency_key, fingerprint)
                    if replay is not None:
                        return replay, False
                if _active_booking(s, who.user_id, session_id) is not None:
                    raise conflict(
                        "You already have a booking for this session.", "already-booked"
                    ) from None
            raise
        return booking
    raise AssertionError("unreachable")  # pragma: no cover


class _NotReplicated(Exception):
    """The session is not in the replica yet (read through and retry)."""


def _book_locked(
    s: Session,
    settings: Settings,
    who: Identity,
    session_id: uuid.UUID,
    idempotency_key: str | None,
    fingerprint: str,
    prepared: notify.Prepared | None = None,
) -> tuple[Booking, bool]:
    """The booking transaction proper, under the session's row lock."""
    row = lock_session(s, session_id)
    if row is None:
        raise _NotReplicated
    if idempotency_key:  # a concurrent request with this key may have won
        replay = _replay(s, who.user_id, idempotency_key, fingerprint)
        if replay is not None:
            return replay, False
    why = row.bookable_problem
    if why:
        raise conflict(why, "session-not-bookable")
    if _active_booking(s, who.user_id, session_id) is not None:
        raise conflict("You already have a booking for this session.", "already-booked")
    booking = _new_booking(s, row, who)
    if prepared is not None:
        booking.id = prepared.booking_id
    booking.idempotency_key = idempotency_key
    booking.request_fingerprint = fingerprint if idempotency_key else None
    s.add(booking)
    s.flush()
    notify.booked(s, settings, booking, prepared)
    if booking.status == CONFIRMED:
        publishing.booking_confirmed(s, booking)
    return booking, True


def _new_booking(s: Session, row: SessionReplica, who: Identity) -> Booking:
    """Confirmed while places are free and nobody is waiting; else next on the list.

    Paid (``pending_payment``) and hub-funded (``pending_funding``) bookings hold a
    place the same way; the payments and budget issues choose them here.
    """
    c = counts(s, row.id)
    now = utcnow()
    booking = Booking(
        session_id=row.id,
        user_id=who.user_id,
        user_email=who.email,
        user_name=who.name,
        setting_type=who.setting_type,
        price_pence=row.price_pence or 0,
        funding="free" if row.is_free else "unpaid",
        created_at=now,
        updated_at=now,
    )
    if c["held"] < row.capacity and c["waitlisted"] == 0:
        booking.status = CONFIRMED
        booking.confirmed_at = now
    else:
        last = s.scalar(
            select(func.max(Booking.waitlist_position)).where(
                Booking.session_id == row.id, Booking.status == WAITLISTED
            )
        )
        booking.status = WAITLISTED
        booking.waitlist_position = int(last or 0) + 1
    booking.session = row
    return booking


# -- access ------------------------------------------------------------------------
def can_manage(who: Identity, row: SessionReplica) -> bool:
    return who.leads_hub(row.hub_id)


def visible_booking(s: Session, who: Identity, booking_id: uuid.UUID) -> Booking:
    """The booking if it is the caller's own or they lead its hub; otherwise 404.

    404 rather than 403: a booking id must not tell a stranger that it exists.
    """
    booking = s.get(Booking, booking_id)
    if booking is None or not (booking.user_id == who.user_id or can_manage(who, booking.session)):
        raise not_found()
    return booking


# -- cancellation and the waiting list --------------------------------------------
def cancel(
    db: Database,
    settings: Settings,
    who: Identity,
    booking_id: uuid.UUID,
    *,
    reason: str | None = None,
) -> Booking:
    """Cancel a booking; a freed place goes to the waiting list (free sessions)."""
    with db.transaction() as s:
        booking = visible_booking(s, who, booking_id)
        row = lock_session(s, booking.session_id)
        assert row is not None
        s.refresh(booking)
        if booking.status == CANCELLED:
            return booking  # a retried cancel: nothing more to do
        if booking.status not in CANCELLABLE:
            raise conflict(f"A booking that is {booking.status} cannot be cancelled.")
        as_lead = booking.user_id != who.user_id
        if not as_lead and row.starts_at <= utcnow():
            raise conflict("The session has started; ask the hub lead.", "session-started")
        cancel_booking(s, settings, booking, row, by=who.user_id, reason=reason)
        return booking


def cancel_booking(
    s: Session,
    settings: Settings,
    booking: Booking,
    row: SessionReplica,
    *,
    by: str,
    reason: str | None,
    session_cancelled: bool = False,
) -> None:
    """Cancel one booking whose session row the caller has locked."""
    was = booking.status
    position = booking.waitlist_position
    now = utcnow()
    booking.previous_status = was
    booking.status = CANCELLED
    booking.waitlist_position = None
    booking.cancelled_at = now
    booking.cancelled_by = by
    booking.cancel_reason = reason
    booking.updated_at = now
    s.flush()
    notify.cancelled(s, settings, booking, was=was, session_cancelled=session_cancelled)
    publishing.booking_cancelled(s, booking)
    if session_cancelled:
        return
    if was == WAITLISTED and position is not None:
        _close_up(s, row.id, after=position, by=1)
    elif was in HOLDING_PLACE:
        promote_waitlist(s, settings, row)


def _close_up(s: Session, session_id: uuid.UUID, *, after: int, by: int) -> None:
    s.execute(
        update(Booking)
        .where(
            Booking.session_id == session_id,
            Booking.status == WAITLISTED,
            Booking.waitlist_position > after,
        )
        .values(waitlist_position=Booking.waitlist_position - by)
        .execution_options(synchronize_session="fetch")
    )


def promote_waitlist(s: Session, settings: Settings, row: SessionReplica) -> list[Booking]:
    """Confirm the head of the waiting list into free places (free, upcoming sessions).

    Paid sessions will offer the place instead (payments issue); nothing is promoted
    into a session that has started or is cancelled.
    """
    if not row.is_free or row.bookable_problem:
        return []
    free = row.capacity - counts(s, row.id)["held"]
    if free <= 0:
        return []
    heads = list(
        s.scalars(
            select(Booking)
            .where(Booking.session_id == row.id, Booking.status == WAITLISTED)
            .order_by(Booking.waitlist_position)
            .limit(free)
        )
    )
    if not heads:
        return []
    now = utcnow()
    for booking in heads:
        booking.status = CONFIRMED
        booking.waitlist_position = None
        booking.confirmed_at = now
        booking.updated_at = now
    s.flush()
    _close_up(s, row.id, after=0, by=len(heads))
    for booking in heads:
        notify.promoted(s, settings, booking)
        publishing.booking_confirmed(s, booking, promoted=True)
    return heads


# -- listing -----------------------------------------------------------------------
def list_bookings(
    s: Session,
    who: Identity,
    *,
    session_id: uuid.UUID | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Booking], str | None]:
    """Own bookings; with ``session_id`` the whole session's for its hub's lead."""
    query = select(Booking)
    if session_id is not None:
        query = query.where(Booking.session_id == session_id)
        row = s.get(SessionReplica, session_id)
        if row is None or not can_manage(who, row):
            query = query.where(Booking.user_id == who.user_id)
    else:
        query = query.where(Booking.user_id == who.user_id)
    if status:
        query = query.where(Booking.status == status)
    if cursor:
        when, ident = decode_cursor(cursor)
        query = query.where(
            (Booking.created_at > when) | ((Booking.created_at == when) & (Booking.id > ident))
        )
    rows = list(s.scalars(query.order_by(Booking.created_at, Booking.id).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id)
    return rows, next_cursor


# -- catalogue changes (bus handlers and read-through call these) --------------------
def _active_bookings(s: Session, session_id: uuid.UUID) -> list[Booking]:
    return list(
        s.scalars(
            select(Booking)
            .where(Booking.session_id == session_id, Booking.status.in_(CANCELLABLE))
            .order_by(Booking.created_at)
        )
    )


def apply_session_snapshot(
    s: Session, settings: Settings, snapshot: Mapping[str, Any]
) -> SessionReplica | None:
    """Apply what the catalogue says a session now is; tell bookers what changed.

    A time or place change re-sends every active booking's invite as an update; a
    raised capacity confirms from the waiting list; a cancellation cancels every
    booking with a CANCEL invite. Stale (older ``sequence``) snapshots change nothing.
    """
    session_id = uuid.UUID(str(snapshot["id"]))
    before = s.get(SessionReplica, session_id)
    old = (
        None
        if before is None
        else {
            "starts_at": before.starts_at,
            "ends_at": before.ends_at,
            "venue": before.venue,
            "online_url": before.online_url,
            "status": before.status,
            "event_status": before.event_status,
        }
    )
    row, written = upsert_session(s, snapshot)
    if not written or old is None:
        return row if written else None
    if (row.status == "cancelled" or row.event_status == "cancelled") and (
        old["status"] != "cancelled" and old["event_status"] != "cancelled"
    ):
        _cancel_all(s, settings, row)
        return row
    moved = (old["starts_at"], old["ends_at"]) != (row.starts_at, row.ends_at)
    relocated = (old["venue"], old["online_url"]) != (row.venue, row.online_url)
    if moved or relocated:
        for booking in _active_bookings(s, row.id):
            if moved:
                booking.reminder_sent_at = None  # remind again before the new time
            notify.rescheduled(s, settings, booking)
    promote_waitlist(s, settings, row)
    return row


def apply_reschedule(
    s: Session,
    settings: Settings,
    session_id: uuid.UUID,
    *,
    starts_at: datetime,
    ends_at: datetime,
    sequence: int,
) -> SessionReplica | None:
    """A reschedule (new times, higher sequence); unknown sessions are left to read-through."""
    row = lock_session(s, session_id)
    if row is None:
        return None
    snapshot = {
        "id": session_id,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "sequence": sequence,
    }
    if sequence <= row.sequence:
        log.info("stale reschedule ignored", extra={"session_id": str(session_id)})
        return None
    return apply_session_snapshot(s, settings, snapshot)


def apply_session_cancelled(
    s: Session, settings: Settings, session_id: uuid.UUID, *, reason: str | None
) -> SessionReplica | None:
    """The hub cancelled a session: every booking is cancelled and told so."""
    row = lock_session(s, session_id)
    if row is None or row.status == "cancelled":
        return None
    row.status = "cancelled"
    row.cancel_reason = reason
    s.flush()
    _cancel_all(s, settings, row)
    return row


def _cancel_all(s: Session, settings: Settings, row: SessionReplica) -> None:
    for booking in _active_bookings(s, row.id):
        cancel_booking(
            s,
            settings,
            booking,
            row,
            by="catalogue",
            reason=row.cancel_reason or "The session was cancelled.",
            session_cancelled=True,
        )


#: Event-level fields copied onto every session of the event.
EVENT_FIELDS = (
    "title",
    "kind",
    "format",
    "summary",
    "topics",
    "price_pence",
    "funded_places",
    "cpd_hours",
    "venue",
    "online_url",
    "hub_name",
)


def apply_event_updated(
    s: Session,
    settings: Settings,
    event_id: uuid.UUID,
    fields: Mapping[str, Any],
    *,
    changed_at: datetime | None,
) -> list[SessionReplica]:
    """Copy an event's new fields to its sessions (older updates than we hold are ignored)."""
    rows = list(
        s.scalars(
            select(SessionReplica)
            .where(SessionReplica.event_id == event_id)
            .order_by(SessionReplica.id)
            .with_for_update()
        )
    )
    applied = []
    for row in rows:
        if changed_at is not None and row.event_updated_at and changed_at < row.event_updated_at:
            continue
        snapshot: dict[str, Any] = {
            "id": row.id,
            "sequence": row.sequence,
            **{k: fields[k] for k in EVENT_FIELDS if k in fields},
        }
        if "status" in fields:
            snapshot["event_status"] = fields["status"]
        updated = apply_session_snapshot(s, settings, snapshot)
        if updated is not None:
            updated.event_updated_at = changed_at or utcnow()
            applied.append(updated)
    return applied


# -- attendance and feedback -------------------------------------------------------
#: Bookings whose attendance a hub lead records (and may correct).
ATTENDABLE = (CONFIRMED, ATTENDED, NO_SHOW)


def record_attendance(
    db: Database,
    settings: Settings,
    who: Identity,
    session_id: uuid.UUID,
    records: list[Mapping[str, Any]],
) -> list[Booking]:
    """Mark bookings attended / no_show, all or nothing, once the session has started."""
    with db.transaction() as s:
        row = lock_session(s, session_id)
        if row is None:
            raise not_found("session")
        require_lead(who, row)
        if row.starts_at > utcnow():
            raise conflict("Attendance can be recorded once the session has started.")
        if row.status == "cancelled":
            raise conflict("The session was cancelled.")
        wanted = {r["booking_id"]: bool(r["attended"]) for r in records}
        found = {
            b.id: b
            for b in s.scalars(
                select(Booking).where(Booking.id.in_(wanted), Booking.session_id == session_id)
            )
        }
        errors: dict[str, list[str]] = {}
        for index, booking_id in enumerate(wanted):
            booking = found.get(booking_id)
            if booking is None:
                errors[f"records.{index}.booking_id"] = ["No such booking on this session."]
            elif booking.status not in ATTENDABLE:
                errors[f"records.{index}.booking_id"] = [
                    f"A {booking.status} booking has no attendance to record."
                ]
        if errors:
            raise Problem(
                422,
                "Invalid request",
                "Some records name bookings that cannot be marked; nothing was recorded.",
                kind="validation",
                errors=errors,
            )
        now = utcnow()
        changed = []
        for booking_id, attended in wanted.items():
            booking = found[booking_id]
            status = ATTENDED if attended else NO_SHOW
            if booking.status != status:
                booking.previous_status = booking.status
                booking.status = status
                booking.attendance_recorded_at = now
                booking.updated_at = now
                changed.append(booking)
        s.flush()
        for booking in changed:
            publishing.attendance_recorded(s, booking)
        return [found[i] for i in wanted]


def require_lead(who: Identity, row: SessionReplica) -> None:
    """Hub lead of the session's hub (or admin); otherwise 403."""
    if not can_manage(who, row):
        raise Problem(
            403, "Forbidden", "Only a lead of this session's hub may do this.", kind="forbidden"
        )


def leave_feedback(
    db: Database, who: Identity, booking_id: uuid.UUID, *, rating: int, comment: str | None
) -> Feedback:
    """One rating per attended booking, by the practitioner who attended."""
    try:
        with db.transaction() as s:
            booking = s.get(Booking, booking_id)
            if booking is None or booking.user_id != who.user_id:
                raise not_found()
            if booking.status != ATTENDED:
                raise conflict("Feedback is for sessions you attended.", "not-attended")
            if s.scalar(select(Feedback).where(Feedback.booking_id == booking_id)) is not None:
                raise conflict("You already gave feedback on this session.", "feedback-given")
            feedback = Feedback(
                booking_id=booking_id,
                session_id=booking.session_id,
                rating=rating,
                comment=(comment or "").strip() or None,
            )
            s.add(feedback)
            s.flush()
            return feedback
    except IntegrityError:
        raise conflict("You already gave feedback on this session.", "feedback-given") from None
