"""Every state change of the bookings service (the API and the bus handlers both call these).

Concurrency rule: the session replica row carries the session's counters
(``held_count``: bookings holding a place, ``waitlist_count``), and every change that
moves a booking into or out of a place or the waiting list changes them in the same
transaction, under that row's lock. Booking never counts bookings: one conditional
``UPDATE ... RETURNING`` on the row takes the lock, re-checks and decides (a place while
``held_count < capacity`` and nobody waits, else the next waiting-list position), so
overbooking stays impossible. Everything that does not depend on the outcome (ids, the
booking row, the confirmation mail, the event) is prepared before, and while a place is
likely the INSERTs even run before that UPDATE, which then comes last before COMMIT
(``book``). Other changes lock the row first (``SELECT ... FOR UPDATE``; on SQLite every
write transaction holds the write lock from ``BEGIN IMMEDIATE``). The partial unique
index on (user, session) for active bookings backs the one-booking rule.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from services.bookings import notify, publishing, refunds
from services.bookings.models import (
    ATTENDED,
    CANCELLABLE,
    CANCELLED,
    CONFIRMED,
    ENDED,
    FUNDING_DECLINED,
    HOLDING_PLACE,
    NO_SHOW,
    OFFERED,
    PENDING_FUNDING,
    PENDING_PAYMENT,
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
    "cost_per_funded_place_pence",
    "funding_line",
    "funded_setting_types",
    "refund_days_before",
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
    with db.read() as s:
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
    """Places held and the waiting list, from the session row's counters."""
    row = s.get(SessionReplica, session_id)
    held = row.held_count if row is not None else 0
    waiting = row.waitlist_count if row is not None else 0
    return {"held": held, "confirmed": held, "waitlisted": waiting}


def count_bookings(s: Session, session_id: uuid.UUID) -> dict[str, int]:
    """The same figures counted from the bookings themselves (what the counters must equal)."""
    rows = s.execute(
        select(Booking.status, func.count())
        .where(Booking.session_id == session_id)
        .group_by(Booking.status)
    ).all()
    by_status = {status: int(n) for status, n in rows}
    held = sum(by_status.get(st, 0) for st in HOLDING_PLACE)
    return {"held": held, "confirmed": held, "waitlisted": by_status.get(WAITLISTED, 0)}


def availability(s: Session, row: SessionReplica) -> dict[str, Any]:
    return {
        "session_id": row.id,
        "capacity": row.capacity,
        "confirmed": row.held_count,
        "waitlisted": row.waitlist_count,
        "remaining": max(0, row.capacity - row.held_count),
    }


def _deltas(was: str | None, now: str) -> tuple[int, int]:
    """How a booking moving from ``was`` (None: new) to ``now`` changes (held, waiting)."""
    held = (now in HOLDING_PLACE) - (was in HOLDING_PLACE)
    waiting = (now == WAITLISTED) - (was == WAITLISTED)
    return held, waiting


def _shift_counts(s: Session, row: SessionReplica, *, held: int = 0, waiting: int = 0) -> None:
    """Move the session's counters; the caller holds the row's lock.

    One UPDATE that leaves ``updated_at`` alone (the replica's version: bumping it
    would make every prepared confirmation of a concurrent booker stale), and the new
    values are put on ``row`` as loaded, so later steps see them without a read.
    """
    if not held and not waiting:
        return
    new_held, new_waiting = s.execute(
        update(SessionReplica)
        .where(SessionReplica.id == row.id)
        .values(
            held_count=SessionReplica.held_count + held,
            waitlist_count=SessionReplica.waitlist_count + waiting,
            updated_at=SessionReplica.updated_at,
        )
        .returning(SessionReplica.held_count, SessionReplica.waitlist_count)
        .execution_options(synchronize_session=False)
    ).one()
    set_committed_value(row, "held_count", new_held)
    set_committed_value(row, "waitlist_count", new_waiting)


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


def _already_booked() -> Problem:
    return conflict("You already have a booking for this session.", "already-booked")


def book(
    db: Database,
    settings: Settings,
    who: Identity,
    session_id: uuid.UUID,
    *,
    idempotency_key: str | None = None,
    fingerprint: str = "",
    fetch: SessionFetcher | None = None,
    request_funding: bool = False,
) -> tuple[Booking, bool]:
    """Book a place or join the waiting list; returns (booking, created).

    The checks here (replay, bookable) read a snapshot without any lock, so refusals
    never queue for the session. While the snapshot shows a free place, the booking,
    its confirmation mail and its event are inserted first and the session's row is
    locked last, by the UPDATE that claims the place right before COMMIT; if the place
    is gone (or the session changed) that transaction rolls back and the general one
    runs. The unique indexes catch the races the snapshot misses (a double click).
    """
    if not who.email_verified:
        raise Problem(
            403,
            "Forbidden",
            "Confirm your email address first: follow the link we emailed you, then sign in again.",
            kind="email-unconfirmed",
        )
    with db.read() as s:
        if idempotency_key:
            replay = _replay(s, who.user_id, idempotency_key, fingerprint)
            if replay is not None:
                return replay, False
        seen = s.get(SessionReplica, session_id)
    if seen is None:
        seen = ensure_session(db, session_id, fetch)  # read through (404 if none)
    why = seen.bookable_problem
    if why:
        raise conflict(why, "session-not-bookable")
    if request_funding:
        _check_funding(seen, who)
    booking_id = new_id()
    try:
        if seen.held_count < seen.capacity and not seen.waitlist_count:
            plan = _prepare(
                settings,
                seen,
                who,
                booking_id,
                idempotency_key,
                fingerprint,
                mail=seen.is_free and not request_funding,
                funding=request_funding,
            )
            try:
                with db.transaction() as s:
                    return _book_place_last(s, settings, plan), True
            except _PlaceGone:
                pass  # taken meanwhile, or the session changed: the general path decides
        plan = _prepare(
            settings,
            seen,
            who,
            booking_id,
            idempotency_key,
            fingerprint,
            mail=False,
            funding=request_funding,
        )
        with db.transaction() as s:
            return _book_locked(s, settings, plan), True
    except IntegrityError:
        # Lost a race the snapshot could not see (a double click, or the same key
        # used twice at once): answer as the winner's request was answered.
        with db.read() as s:
            if idempotency_key:
                replay = _replay(s, who.user_id, idempotency_key, fingerprint)
                if replay is not None:
                    return replay, False
            if _active_booking(s, who.user_id, session_id) is not None:
                raise _already_booked() from None
        raise


class _PlaceGone(Exception):
    """The optimistic booking found no place (or a changed session): roll it back."""


@dataclass
class _Plan:
    """A booking built before the lock: only its status waits for the session's counters."""

    booking: Booking
    snapshot: SessionReplica
    prepared: notify.Prepared | None
    #: The hub is asked to pay (``pending_funding`` until budget answers).
    funding: bool = False


def _prepare(
    settings: Settings,
    seen: SessionReplica,
    who: Identity,
    booking_id: uuid.UUID,
    idempotency_key: str | None,
    fingerprint: str,
    *,
    mail: bool = True,
    funding: bool = False,
) -> _Plan:
    """The booking row and (with ``mail``) its confirmation, from the session snapshot."""
    now = utcnow()
    booking = Booking(
        id=booking_id,
        session_id=seen.id,
        user_id=who.user_id,
        user_email=who.email,
        user_name=who.name,
        setting_type=who.setting_type,
        price_pence=seen.price_pence or 0,
        funding="free" if seen.is_free else "unpaid",
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint if idempotency_key else None,
        created_at=now,
        updated_at=now,
    )
    prepared = None
    if mail:  # rendering the invite takes milliseconds: never while holding the session
        prepared = notify.prepare_confirmation(
            settings, seen, booking_id=booking_id, email=who.email, name=who.name
        )
    return _Plan(booking, seen, prepared, funding)


def _bookable(now: datetime) -> tuple[Any, ...]:
    """``SessionReplica.bookable_problem is None`` as SQL, for the locking UPDATEs."""
    t = SessionReplica
    return (t.status == "scheduled", t.event_status == "published", t.starts_at > now)


def _book_place_last(s: Session, settings: Settings, plan: _Plan) -> Booking:
    """A confirmed booking whose place is claimed by the last statement before COMMIT.

    The INSERTs (booking, mail, event) run first and lock nothing of the session, so
    the row lock lasts one UPDATE and the COMMIT. The UPDATE only matches while a place
    is free and nobody waits; it returns the session's version, which must be the
    snapshot's (the mail and event were made from it). Otherwise: ``_PlaceGone``.
    """
    booking = plan.booking
    # A copy joins this unit of work: a rollback expires it, not the snapshot reused next.
    row = s.merge(plan.snapshot, load=False)
    _give_place(settings, booking, row, booking.created_at, funding=plan.funding)
    booking.session = row
    s.add(booking)
    notify.booked(s, settings, booking, plan.prepared)
    _placed(s, booking)
    s.flush()  # a duplicate booking fails here, before the session is locked
    t = SessionReplica
    claimed = s.execute(
        update(t)
        .where(
            t.id == row.id,
            *_bookable(utcnow()),
            t.held_count < t.capacity,
            t.waitlist_count == 0,
        )
        .values(held_count=t.held_count + 1, updated_at=t.updated_at)
        .returning(t.held_count, t.sequence, t.updated_at)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if claimed is None or (claimed[1], claimed[2]) != notify.session_version(row):
        raise _PlaceGone
    set_committed_value(row, "held_count", claimed[0])
    return booking


def _check_funding(row: SessionReplica, who: Identity) -> None:
    """Refuse a funding request the event cannot meet, before holding anything (the
    budget service still decides: money and the funded places left are its to count)."""
    if not row.funded_places:
        raise conflict("This session has no hub-funded places.", "no-funded-places")
    eligible = row.funded_setting_types or []
    if eligible and who.setting_type not in eligible:
        raise conflict(
            "Hub-funded places on this session are for " + ", ".join(eligible) + " settings.",
            "not-eligible-for-funding",
        )


def _placed(s: Session, booking: Booking) -> None:
    """Tell the bus about a booking that got a place (confirmed, or funding asked for)."""
    if booking.status == CONFIRMED:
        publishing.booking_confirmed(s, booking)
    elif booking.status == PENDING_FUNDING:
        publishing.funding_requested(s, booking)


def _give_place(
    settings: Settings, booking: Booking, row: SessionReplica, now: datetime, *, funding: bool
) -> None:
    """A place was claimed for ``booking``: confirmed, held for payment (paid sessions)
    or held while the hub's budget decides (``funding``)."""
    if funding:
        booking.status = PENDING_FUNDING
    elif row.is_free:
        booking.status = CONFIRMED
        booking.confirmed_at = now
    else:
        booking.status = PENDING_PAYMENT
        booking.hold_expires_at = now + timedelta(seconds=settings.payment_hold_seconds)


def _take_place(
    s: Session, session_id: uuid.UUID, now: datetime
) -> tuple[int, int, int, datetime] | None:
    """Count one more booking on a bookable session, as a place or on the waiting list.

    One statement: it takes the row lock, re-checks bookability and decides. Every SET
    expression reads the old row, so the booking gets a place exactly when one was free
    and nobody was waiting (``waitlist_count`` stays 0); otherwise it is last in the
    queue (its position is the new ``waitlist_count``: positions are kept dense).
    Returns (held, waiting, sequence, updated_at) after the change, or None.
    """
    t = SessionReplica
    gets_place = (t.held_count < t.capacity) & (t.waitlist_count == 0)
    found = s.execute(
        update(t)
        .where(t.id == session_id, *_bookable(now))
        .values(
            held_count=t.held_count + case((gets_place, 1), else_=0),
            waitlist_count=t.waitlist_count + case((gets_place, 0), else_=1),
            updated_at=t.updated_at,  # counters are not a new version of the session
        )
        .returning(t.held_count, t.waitlist_count, t.sequence, t.updated_at)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    return None if found is None else (found[0], found[1], found[2], found[3])


def _book_locked(s: Session, settings: Settings, plan: _Plan) -> Booking:
    """The general booking transaction: the counting UPDATE first, then inserts only.

    For a full session (the waiting-list position is only known under the lock) and
    whenever the optimistic path lost. Mail and the outbox event are queued in the
    session and written by the flush at COMMIT.
    """
    booking, row = plan.booking, plan.snapshot
    now = utcnow()
    taken = _take_place(s, row.id, now)
    if taken is None:  # not bookable (any more), or never replicated
        current = s.get(SessionReplica, row.id, populate_existing=True)
        if current is None:  # pragma: no cover - replicas are never deleted
            raise not_found("session")
        why = current.bookable_problem or "The session cannot be booked now."
        raise conflict(why, "session-not-bookable")
    held, waiting, sequence, updated_at = taken
    if (sequence, updated_at) != notify.session_version(row):
        # The catalogue changed the session since the snapshot: use what it is now
        # (a prepared mail no longer matches and is rebuilt by notify.booked).
        row = s.get(SessionReplica, row.id, populate_existing=True)  # type: ignore[assignment]
        assert row is not None
        booking.price_pence = row.price_pence or 0
        booking.funding = "free" if row.is_free else "unpaid"
    set_committed_value(row, "held_count", held)
    set_committed_value(row, "waitlist_count", waiting)
    if waiting == 0:
        _give_place(settings, booking, row, now, funding=plan.funding)
    elif plan.funding:  # rolls the transaction back: no place, no waiting-list entry
        raise conflict(
            "No place is free to fund now: join the waiting list without funding instead.",
            "session-full",
        )
    else:
        booking.status = WAITLISTED
        booking.waitlist_position = waiting
    booking.session = row
    s.add(booking)
    notify.booked(s, settings, booking, plan.prepared)
    _placed(s, booking)
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
    note: str | None = None,
) -> int:
    """Cancel one booking whose session row the caller has locked; returns the pence
    that go back to the card (refund intents, executed after commit: ``refunds``)."""
    was = booking.status
    position = booking.waitlist_position
    now = utcnow()
    booking.previous_status = was
    booking.status = CANCELLED
    booking.waitlist_position = None
    booking.cancelled_at = now
    booking.cancelled_by = by
    booking.cancel_reason = reason
    booking.hold_expires_at = None
    booking.updated_at = now
    refund = refunds.on_cancel(s, booking, by=by, session_cancelled=session_cancelled, now=now)
    s.flush()
    held, waiting = _deltas(was, CANCELLED)
    _shift_counts(s, row, held=held, waiting=waiting)
    notify.cancelled(
        s,
        settings,
        booking,
        was=was,
        session_cancelled=session_cancelled,
        note=note,
        refund_pence=refund,
    )
    publishing.booking_cancelled(s, booking, refund_pence=refund)
    if session_cancelled:
        return refund
    if was == WAITLISTED and position is not None:
        _close_up(s, row.id, after=position, by=1)
    elif was in HOLDING_PLACE:
        promote_waitlist(s, settings, row)
    return refund


def _close_up(s: Session, session_id: uuid.UUID, *, after: int, by: int) -> None:
    """Move the waiting list up (positions stay 1..n: the next position is n + 1).

    A new position is a change of the booking (feeds show it and revalidate on
    ``updated_at``), so it is stamped like any other.
    """
    s.execute(
        update(Booking)
        .where(
            Booking.session_id == session_id,
            Booking.status == WAITLISTED,
            Booking.waitlist_position > after,
        )
        .values(waitlist_position=Booking.waitlist_position - by, updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )


def promote_waitlist(s: Session, settings: Settings, row: SessionReplica) -> list[Booking]:
    """Give free places to the head of the waiting list (upcoming sessions only).

    Free sessions confirm them; paid sessions offer them (``offered``, held until the
    offer lapses, then passed on): nobody is charged for a place they did not choose.
    Nothing is promoted into a session that has started or is cancelled.
    """
    if row.bookable_problem:
        return []
    free = row.capacity - row.held_count
    if free <= 0 or not row.waitlist_count:
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
        booking.waitlist_position = None
        booking.updated_at = now
        if row.is_free:
            booking.status = CONFIRMED
            booking.confirmed_at = now
        else:
            booking.status = OFFERED
            booking.hold_expires_at = now + timedelta(seconds=settings.offer_seconds)
    s.flush()
    _close_up(s, row.id, after=0, by=len(heads))
    _shift_counts(s, row, held=len(heads), waiting=-len(heads))
    for booking in heads:
        if booking.status == CONFIRMED:
            notify.promoted(s, settings, booking)
            publishing.booking_confirmed(s, booking, promoted=True)
        else:
            notify.offered(s, settings, booking)
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
    "cost_per_funded_place_pence",
    "funding_line",
    "funded_setting_types",
    "refund_days_before",
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
        held = waiting = 0
        for booking_id, attended in wanted.items():
            booking = found[booking_id]
            status = ATTENDED if attended else NO_SHOW
            if booking.status != status:
                moved = _deltas(booking.status, status)  # (0, 0) today: all hold a place
                held, waiting = held + moved[0], waiting + moved[1]
                booking.previous_status = booking.status
                booking.status = status
                booking.attendance_recorded_at = now
                booking.updated_at = now
                changed.append(booking)
        s.flush()
        _shift_counts(s, row, held=held, waiting=waiting)
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


# -- calendar feeds ---------------------------------------------------------------
def create_feed(
    db: Database, settings: Settings, who: Identity, *, scope: str, hub_id: uuid.UUID | None
) -> dict[str, Any]:
    """A private subscription URL (its token is shown only in this answer)."""
    from services.bookings import feeds

    with db.transaction() as s:
        feed, url = feeds.create_feed(s, settings, who, scope=scope, hub_id=hub_id)
        return {
            "id": feed.id,
            "scope": feed.scope,
            "hub_id": feed.hub_id,
            "created_at": feed.created_at,
            "url": url,
        }


def revoke_feed(db: Database, who: Identity, feed_id: uuid.UUID) -> None:
    """The feed's URL answers 404 from now on."""
    from services.bookings import feeds

    with db.transaction() as s:
        feeds.revoke_feed(s, who, feed_id)


# -- hub-funded places (the budget service's answers) ------------------------------
def apply_funding_committed(
    s: Session, settings: Settings, booking_id: uuid.UUID
) -> Booking | None:
    """The hub's budget committed the money: the held place is confirmed, funded.

    Anything but a ``pending_funding`` booking is left alone (a cancellation that
    crossed the answer: budget releases the commitment when it sees the cancellation).
    """
    booking = s.get(Booking, booking_id)
    if booking is None:
        return None
    lock_session(s, booking.session_id)
    s.refresh(booking)
    if booking.status != PENDING_FUNDING:
        return None
    now = utcnow()
    booking.status = CONFIRMED
    booking.funding = "funded"
    booking.confirmed_at = now
    booking.updated_at = now
    notify.confirmed(
        s, settings, booking, subject=f"Funded place confirmed: {booking.session.title}"
    )
    publishing.booking_confirmed(s, booking)
    return booking


def apply_funding_declined(
    s: Session, settings: Settings, booking_id: uuid.UUID, *, detail: str
) -> Booking | None:
    """The budget cannot fund it: the place is released (to the waiting list) and the
    practitioner told why, with a link to book without funding."""
    booking = s.get(Booking, booking_id)
    if booking is None:
        return None
    row = lock_session(s, booking.session_id)
    assert row is not None
    s.refresh(booking)
    if booking.status != PENDING_FUNDING:
        return None
    now = utcnow()
    booking.previous_status = PENDING_FUNDING
    booking.status = FUNDING_DECLINED
    booking.cancel_reason = detail
    booking.cancelled_at = now
    booking.cancelled_by = "budget"
    booking.updated_at = now
    s.flush()
    _shift_counts(s, row, held=-1)
    notify.funding_declined(s, settings, booking, detail=detail)
    promote_waitlist(s, settings, row)
    return booking
