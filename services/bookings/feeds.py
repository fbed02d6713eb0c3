"""Bookings' calendar subscription feeds: who may make and revoke them, and what each
shows. Tokens, revocation and revalidation are the kernel's (``shared/feeds.py``)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    and_,
    bindparam,
    case,
    cast,
    exists,
    extract,
    func,
    not_,
    or_,
    select,
)
from sqlalchemy.orm import Session, aliased

from services.bookings import invites
from services.bookings.models import (
    CANCELLED,
    ENDED,
    HOLDING_PLACE,
    WAITLISTED,
    Booking,
    CalendarFeed,
    SessionReplica,
)
from shared import calendar as shared_calendar
from shared import feeds as shared_feeds
from shared.auth import Identity
from shared.config import Settings
from shared.db import Database, utcnow
from shared.identity import account_state
from shared.problems import Problem

#: Feeds show items from this far back onwards.
WINDOW_BACK = timedelta(days=90)


def create_feed(
    s: Session, settings: Settings, who: Identity, *, scope: str, hub_id: uuid.UUID | None
) -> tuple[CalendarFeed, str]:
    """A new feed and its URL (the only time the token is known)."""
    if scope == "hub" and not who.leads_hub(hub_id):
        raise Problem(
            403, "Forbidden", "Only a lead of this hub may subscribe to it.", kind="forbidden"
        )
    token, token_hash = shared_feeds.new_token()
    feed = CalendarFeed(
        user_id=who.user_id,
        scope=scope,
        hub_id=hub_id if scope == "hub" else None,
        token_hash=token_hash,
    )
    s.add(feed)
    s.flush()
    return feed, shared_feeds.feed_url(settings, "feeds", token)


def live_feeds(
    s: Session,
    who: Identity,
    *,
    hub_id: uuid.UUID | None = None,
    user_id: uuid.UUID | str | None = None,
    everyone: bool = False,
) -> list[CalendarFeed]:
    """Live feeds the caller may see: their own by default; a hub's feeds (its leads
    and admins: ``hub_id``); another person's or every feed (admins: ``user_id``,
    ``everyone``), so a leaked or unwanted subscription can be found and revoked."""
    query = select(CalendarFeed).where(CalendarFeed.revoked_at.is_(None))
    if hub_id is not None:
        if not who.leads_hub(hub_id):
            raise Problem(403, "Forbidden", "You do not lead this hub.", kind="forbidden")
        query = query.where(CalendarFeed.hub_id == hub_id)
    if (user_id is not None or everyone) and not who.is_admin:
        raise Problem(403, "Forbidden", "Only admins see other people's feeds.", kind="forbidden")
    if user_id is not None:
        query = query.where(CalendarFeed.user_id == str(user_id))
    if hub_id is None and user_id is None and not everyone:
        query = query.where(CalendarFeed.user_id == who.user_id)
    return list(s.scalars(query.order_by(CalendarFeed.created_at, CalendarFeed.id)))


def revoke_feed(s: Session, who: Identity, feed_id: uuid.UUID) -> None:
    """The owner, an admin, or a lead of a hub feed's hub may revoke it."""

    def may(feed: CalendarFeed) -> bool:
        return (
            feed.user_id == who.user_id
            or who.is_admin
            or (feed.hub_id is not None and who.leads_hub(feed.hub_id))
        )

    shared_feeds.revoke(s, CalendarFeed, feed_id, may)


def owner_still_entitled(db: Database, feed: CalendarFeed) -> bool:
    """A feed follows its owner (checked on each fetch against the identity replica,
    shared/identity.py): a deactivated owner's feeds, and a hub feed whose creator no
    longer leads that hub, answer 404."""
    state = account_state(db, feed.user_id)
    if state is None:
        return True
    if not state.is_active:
        return False
    return feed.scope != "hub" or feed.hub_id is None or state.leads_hub(feed.hub_id)


def _location(row: Any) -> str | None:
    """Where a session happens (``row``: a SessionReplica, or a row with its columns)."""
    return row.venue or row.online_url


def _details(row: Any) -> list[str]:
    lines = []
    if row.summary:
        lines.append(row.summary)
    if row.venue:
        lines.append(f"Venue: {row.venue}")
    if row.online_url:
        lines.append(f"Join online: {row.online_url}")
    return lines


def _mine(user_id: Any, now: Any, since: Any) -> tuple[Any, ...]:
    """What a personal feed shows, as SQL (joined with the session): the one rule for
    the feed and for its version, so the two cannot disagree.

    Bookings of sessions that ended less than ``WINDOW_BACK`` ago; a cancellation only
    until its date passes, and not once the user booked the same session again (the
    live booking is shown instead).
    """
    again = aliased(Booking)
    cancelled = or_(Booking.status == CANCELLED, SessionReplica.status == "cancelled")
    booked_again = exists().where(
        again.user_id == Booking.user_id,
        again.session_id == Booking.session_id,
        again.status.not_in(ENDED),
    )
    return (
        Booking.user_id == user_id,
        SessionReplica.ends_at >= since,
        Booking.status.not_in([s_ for s_ in ENDED if s_ != CANCELLED]),
        not_(and_(cancelled, SessionReplica.ends_at <= now)),
        not_(and_(Booking.status == CANCELLED, booked_again)),
    )


#: The columns a personal feed shows: a feed of a thousand bookings reads plain rows, not
#: a thousand bookings and sessions as ORM objects (half the time of the whole feed).
_MY_COLUMNS = (
    Booking.id,  # the only ``id``: ``invites.booking_uid`` reads it from the row
    Booking.status.label("booking_status"),
    Booking.waitlist_position,
    Booking.invite_sequence,
    Booking.updated_at.label("booking_changed"),
    SessionReplica.title,
    SessionReplica.summary,
    SessionReplica.venue,
    SessionReplica.online_url,
    SessionReplica.starts_at,
    SessionReplica.ends_at,
    SessionReplica.status,
    SessionReplica.sequence,
    SessionReplica.updated_at,
)


def my_items(s: Session, settings: Settings, user_id: str) -> list[shared_feeds.FeedItem]:
    """A practitioner's bookings: places, waiting list (tentative), recent cancellations."""
    now = utcnow()
    rows = s.connection().execute(
        select(*_MY_COLUMNS)
        .select_from(Booking)
        .join(SessionReplica, Booking.session_id == SessionReplica.id)
        .where(*_mine(user_id, now, now - WINDOW_BACK))
        .order_by(SessionReplica.starts_at, Booking.id)
    )
    items = []
    for row in rows:
        cancelled = row.booking_status == CANCELLED or row.status == "cancelled"
        if cancelled:
            status, prefix = "CANCELLED", "Cancelled: "
        elif row.booking_status == WAITLISTED:
            status, prefix = "TENTATIVE", f"Waiting list ({row.waitlist_position}): "
        else:
            status, prefix = "CONFIRMED", ""
        items.append(
            shared_feeds.FeedItem(
                uid=invites.booking_uid(settings, row),
                summary=prefix + row.title,
                description="\n".join(_details(row)),
                location=_location(row),
                url=row.online_url,
                starts_at=row.starts_at,
                ends_at=row.ends_at,
                status=status,
                sequence=max(row.invite_sequence or 0, row.sequence),
                changed_at=max(row.booking_changed, row.updated_at),
            )
        )
    return items


def _hub_stats(s: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, object]]:
    """Per session: places held, waiting list, and the latest booking change."""
    stats: dict[uuid.UUID, dict[str, object]] = {i: {"held": 0, "waiting": 0} for i in ids}
    if not ids:
        return stats
    for session_id, status, n, last in s.execute(
        select(Booking.session_id, Booking.status, func.count(), func.max(Booking.updated_at))
        .where(Booking.session_id.in_(ids))
        .group_by(Booking.session_id, Booking.status)
    ):
        st = stats[session_id]
        if status in HOLDING_PLACE:
            st["held"] = int(st["held"]) + int(n)  # type: ignore[call-overload]
        elif status == WAITLISTED:
            st["waiting"] = int(n)
        prev = st.get("last")
        st["last"] = last if prev is None or (last and last > prev) else prev  # type: ignore[operator]
    return stats


def _hub_shown(status: str, event_status: str, ends_at: datetime, now: datetime) -> bool:
    cancelled = status == "cancelled" or event_status == "cancelled"
    if cancelled and ends_at <= now:
        return False
    return event_status in ("published", "cancelled")


def _hub_sessions(hub_id: uuid.UUID, now: datetime) -> tuple[Any, ...]:
    return (SessionReplica.hub_id == hub_id, SessionReplica.ends_at >= now - WINDOW_BACK)


def hub_items(s: Session, settings: Settings, hub_id: uuid.UUID) -> list[shared_feeds.FeedItem]:
    """Every session of a hub with how many are booked and waiting."""
    now = utcnow()
    rows = list(
        s.scalars(
            select(SessionReplica)
            .where(*_hub_sessions(hub_id, now))
            .order_by(SessionReplica.starts_at, SessionReplica.id)
        )
    )
    if not rows:
        return []
    stats = _hub_stats(s, [r.id for r in rows])
    items = []
    for row in rows:
        if not _hub_shown(row.status, row.event_status, row.ends_at, now):
            continue
        cancelled = row.status == "cancelled" or row.event_status == "cancelled"
        st = stats[row.id]
        last = st.get("last")
        changed = max(row.updated_at, last) if isinstance(last, datetime) else row.updated_at
        lines = [f"Booked: {st['held']} of {row.capacity}; waiting list: {st['waiting']}"]
        items.append(
            shared_feeds.FeedItem(
                uid=f"session-{row.id}@{settings.public_host}",
                summary=("Cancelled: " if cancelled else "") + row.title,
                description="\n".join(lines + _details(row)),
                location=_location(row),
                url=row.online_url,
                starts_at=row.starts_at,
                ends_at=row.ends_at,
                status="CANCELLED" if cancelled else "CONFIRMED",
                sequence=row.sequence,
                changed_at=changed,
            )
        )
    return items


def feed_name(feed: CalendarFeed, s: Session) -> str:
    if feed.scope == "hub":
        name = s.scalar(
            select(SessionReplica.hub_name).where(SessionReplica.hub_id == feed.hub_id).limit(1)
        )
        return f"eyhub: {name or 'hub'} sessions"
    return "eyhub: my sessions"


# -- revalidation ----------------------------------------------------------------------
#: Digest of the code that writes feeds (and the icalendar release): part of every ETag,
#: so a deploy that changes how a feed is written never hides behind an old ETag.
_RENDERER = hashlib.sha256(
    b"".join(
        Path(path).read_bytes()
        for path in (__file__, Path(__file__).with_name("feed_api.py"), shared_calendar.__file__)
    )
    + importlib.metadata.version("icalendar").encode()
).hexdigest()


#: Timestamps are summed as integer microseconds since this instant (a sum over tens of
#: thousands of rows stays far inside 64 bits for decades).
_STAMP_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def _micros(column: Any, dialect: str) -> Any:
    """``column`` (a UTCDateTime) as integer microseconds since ``_STAMP_EPOCH``, in SQL."""
    if dialect == "sqlite":  # stored as UTC text; julianday reads it to the millisecond
        days = func.julianday(column) - func.julianday(_STAMP_EPOCH.strftime("%Y-%m-%d %H:%M:%S"))
        return cast(func.round(days * 86_400_000_000), BigInteger)
    return cast((extract("epoch", column) - _STAMP_EPOCH.timestamp()) * 1_000_000, BigInteger)


def _my_version_query(dialect: str) -> Any:
    """Aggregates over what a personal feed shows (see ``feed_version``)."""
    b, t = Booking, SessionReplica
    return (
        select(
            func.count(),
            func.sum(_micros(b.updated_at, dialect)),
            func.sum(_micros(t.updated_at, dialect)),
            func.sum(func.coalesce(b.waitlist_position, 0)),
            func.sum(func.coalesce(b.invite_sequence, -1)),
            func.sum(t.sequence),
            func.sum(case((b.status == CANCELLED, 1), else_=0)),
            func.max(b.updated_at),
            func.max(t.updated_at),
        )
        .select_from(b)
        .join(t, b.session_id == t.id)
        .where(*_mine(bindparam("user_id"), bindparam("now"), bindparam("since")))
    )


_MY_VERSION: dict[str, Any] = {}


@dataclass(frozen=True)
class FeedVersion:
    """A feed's validators, known without building it (a poll answered 304 stays cheap).

    ``etag`` is a digest of what the feed's bytes depend on (what it shows, summarised
    so that any change shows, the feed's name and the code that writes it), so equal
    ETags still mean equal bytes; ``last_modified`` is the latest change of what the
    feed shows (the feed's creation at the earliest).
    """

    etag: str
    last_modified: datetime


def feed_version(s: Session, settings: Settings, feed: CalendarFeed) -> FeedVersion:
    """The validators of ``feed`` from a few narrow columns (no items, no calendar)."""
    now = utcnow()
    digest = hashlib.sha256(f"{_RENDERER}|{settings.public_host}|{feed.scope}".encode())
    latest = feed.created_at
    if feed.scope == "hub":
        assert feed.hub_id is not None
        digest.update(feed_name(feed, s).encode())
        t = SessionReplica
        rows = s.execute(
            select(t.id, t.status, t.event_status, t.ends_at, t.sequence, t.capacity, t.updated_at)
            .where(*_hub_sessions(feed.hub_id, now))
            .order_by(t.id)
        ).all()
        stats = _hub_stats(s, [r.id for r in rows])
        for row in rows:
            if not _hub_shown(row.status, row.event_status, row.ends_at, now):
                continue
            st = stats[row.id]
            last = st.get("last")
            changed = max(row.updated_at, last) if isinstance(last, datetime) else row.updated_at
            latest = max(latest, changed)
            digest.update(f"{tuple(row)}|{st['held']}|{st['waiting']}|{changed}\n".encode())
    else:
        # Aggregates only, so a thousand bookings cost the database a scan and Python one
        # row. Exact because every change a feed shows stamps the booking's or the
        # session's ``updated_at`` with the time of the change (operations.py): the sum of
        # the stamps grows with any change, even when two commit out of stamp order (which
        # a max alone would miss), and a row shown or hidden changes the count.
        dialect = s.get_bind().dialect.name
        if dialect not in _MY_VERSION:  # built once: building costs more than running it
            _MY_VERSION[dialect] = _my_version_query(dialect)
        params = {"user_id": feed.user_id, "now": now, "since": now - WINDOW_BACK}
        row = s.connection().execute(_MY_VERSION[dialect], params).one()
        digest.update(repr(tuple(row[:7])).encode())
        latest = max([latest, *(stamp for stamp in row[7:] if stamp is not None)])
    return FeedVersion(digest.hexdigest(), latest)
