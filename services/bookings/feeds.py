"""Calendar subscription feeds: tokens (stored hashed) and what each feed shows.

A feed URL is the only credential of a calendar app, so its token is 256 random
bits, stored as a SHA-256 hash (a database leak yields no working URL), shown once
at creation, never logged (the kernel scrubs ``/calendar/feeds/<token>``) and revocable.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

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
from shared.auth import Identity
from shared.config import Settings
from shared.db import utcnow
from shared.problems import Problem

#: Feeds show items from this far back onwards.
WINDOW_BACK = timedelta(days=90)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_url(settings: Settings, token: str) -> str:
    return f"{settings.public_url}/calendar/feeds/{token}.ics"


def create_feed(
    s: Session, settings: Settings, who: Identity, *, scope: str, hub_id: uuid.UUID | None
) -> tuple[CalendarFeed, str]:
    """A new feed and its URL (the only time the token is known)."""
    if scope == "hub" and not who.leads_hub(hub_id):
        raise Problem(
            403, "Forbidden", "Only a lead of this hub may subscribe to it.", kind="forbidden"
        )
    token = secrets.token_urlsafe(32)
    feed = CalendarFeed(
        user_id=who.user_id,
        scope=scope,
        hub_id=hub_id if scope == "hub" else None,
        token_hash=hash_token(token),
    )
    s.add(feed)
    s.flush()
    return feed, feed_url(settings, token)


def own_feeds(s: Session, who: Identity) -> list[CalendarFeed]:
    return list(
        s.scalars(
            select(CalendarFeed)
            .where(CalendarFeed.user_id == who.user_id, CalendarFeed.revoked_at.is_(None))
            .order_by(CalendarFeed.created_at, CalendarFeed.id)
        )
    )


def revoke_feed(s: Session, who: Identity, feed_id: uuid.UUID) -> None:
    feed = s.get(CalendarFeed, feed_id)
    if feed is None or feed.user_id != who.user_id or feed.revoked_at is not None:
        raise Problem(404, "Not found", "No such calendar feed.", kind="not-found")
    feed.revoked_at = utcnow()


def feed_for_token(s: Session, token: str) -> CalendarFeed | None:
    """The live feed a token opens, or None (unknown and revoked look the same)."""
    if not token or len(token) > 200:
        return None
    feed = s.scalar(select(CalendarFeed).where(CalendarFeed.token_hash == hash_token(token)))
    if feed is None or feed.revoked_at is not None:
        return None
    return feed


@dataclass(frozen=True)
class FeedItem:
    """One VEVENT of a feed, independent of how ICS is written."""

    uid: str
    summary: str
    description: str
    location: str | None
    url: str | None
    starts_at: datetime
    ends_at: datetime
    status: str  # CONFIRMED, TENTATIVE or CANCELLED
    sequence: int
    changed_at: datetime


def _location(row: SessionReplica) -> str | None:
    return row.venue or row.online_url


def _details(row: SessionReplica) -> list[str]:
    lines = []
    if row.summary:
        lines.append(row.summary)
    if row.venue:
        lines.append(f"Venue: {row.venue}")
    if row.online_url:
        lines.append(f"Join online: {row.online_url}")
    return lines


def my_items(s: Session, settings: Settings, user_id: str) -> list[FeedItem]:
    """A practitioner's bookings: places, waiting list (tentative), recent cancellations."""
    now = utcnow()
    bookings = s.scalars(
        select(Booking)
        .join(SessionReplica, Booking.session_id == SessionReplica.id)
        .where(
            Booking.user_id == user_id,
            SessionReplica.ends_at >= now - WINDOW_BACK,
            Booking.status.not_in([s_ for s_ in ENDED if s_ != CANCELLED]),
        )
        .order_by(SessionReplica.starts_at, Booking.id)
    )
    items = []
    for b in bookings:
        row = b.session
        cancelled = b.status == CANCELLED or row.status == "cancelled"
        if cancelled and row.ends_at <= now:
            continue  # a cancellation stays visible only until its date passes
        if b.status == CANCELLED and _superseded(s, b):
            continue  # booked again: the live booking is in the feed instead
        if cancelled:
            status, prefix = "CANCELLED", "Cancelled: "
        elif b.status == WAITLISTED:
            status, prefix = "TENTATIVE", f"Waiting list ({b.waitlist_position}): "
        else:
            status, prefix = "CONFIRMED", ""
        items.append(
            FeedItem(
                uid=invites.booking_uid(settings, b),
                summary=prefix + row.title,
                description="\n".join(_details(row)),
                location=_location(row),
                url=row.online_url,
                starts_at=row.starts_at,
                ends_at=row.ends_at,
                status=status,
                sequence=max(b.invite_sequence or 0, row.sequence),
                changed_at=max(b.updated_at, row.updated_at),
            )
        )
    return items


def _superseded(s: Session, booking: Booking) -> bool:
    return (
        s.scalar(
            select(func.count())
            .select_from(Booking)
            .where(
                Booking.user_id == booking.user_id,
                Booking.session_id == booking.session_id,
                Booking.status.not_in(ENDED),
            )
        )
        > 0
    )


def hub_items(s: Session, settings: Settings, hub_id: uuid.UUID) -> list[FeedItem]:
    """Every session of a hub with how many are booked and waiting."""
    now = utcnow()
    rows = list(
        s.scalars(
            select(SessionReplica)
            .where(SessionReplica.hub_id == hub_id, SessionReplica.ends_at >= now - WINDOW_BACK)
            .order_by(SessionReplica.starts_at, SessionReplica.id)
        )
    )
    if not rows:
        return []
    ids = [r.id for r in rows]
    stats: dict[uuid.UUID, dict[str, object]] = {i: {"held": 0, "waiting": 0} for i in ids}
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
    items = []
    for row in rows:
        cancelled = row.status == "cancelled" or row.event_status == "cancelled"
        if cancelled and row.ends_at <= now:
            continue
        if row.event_status not in ("published", "cancelled"):
            continue
        st = stats[row.id]
        last = st.get("last")
        changed = max(row.updated_at, last) if isinstance(last, datetime) else row.updated_at
        lines = [f"Booked: {st['held']} of {row.capacity}; waiting list: {st['waiting']}"]
        items.append(
            FeedItem(
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
