"""Private calendar subscriptions, for every service that offers one (bookings' "my
bookings" and hub feeds, mentoring's caseload feed).

A feed URL is the only credential a calendar app has, so its token is 256 random bits,
stored only as a SHA-256 hash (a database leak yields no working URL), shown once at
creation, never logged (``shared/web.py`` scrubs ``/calendar/<kind>/<token>``) and
revocable. Calendar apps poll every few minutes, so an unchanged feed is answered 304
from its version (ETag, Last-Modified) before anything is rendered.

Each service keeps its feeds in its own table with the columns of ``FeedColumns``.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from flask import Response, request
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.http import is_resource_modified

from shared.calendar import FEED_MAX_AGE, CalendarItem, build_calendar, feed_response
from shared.config import Settings
from shared.db import UTCDateTime, new_id, utcnow
from shared.problems import Problem

#: Longer tokens are refused before any lookup (ours are 43 characters).
MAX_TOKEN_LENGTH = 200
#: REFRESH-INTERVAL suggested to calendar apps.
REFRESH = timedelta(hours=1)


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


def render(items: Sequence[FeedItem], name: str) -> bytes:
    """The feed as a ``METHOD:PUBLISH`` calendar; each item's DTSTAMP and LAST-MODIFIED
    are its last change, so unchanged data gives the same bytes."""
    return build_calendar(
        [
            CalendarItem(
                uid=i.uid,
                summary=i.summary,
                starts_at=i.starts_at,
                ends_at=i.ends_at,
                dtstamp=i.changed_at,
                last_modified=i.changed_at,
                description=i.description or None,
                location=i.location,
                url=i.url,
                sequence=i.sequence,
                status=i.status,
            )
            for i in items
        ],
        method="PUBLISH",
        name=name,
        refresh_interval=REFRESH,
    )


class FeedColumns:
    """The columns every feed table has (a declarative mixin)."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Feed(Protocol):
    id: Any
    user_id: str
    token_hash: str
    revoked_at: datetime | None


F = TypeVar("F", bound=Feed)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh token and the hash to store (the token itself is shown once)."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def feed_url(settings: Settings, kind: str, token: str) -> str:
    """The public subscription URL: ``/calendar/<kind>/<token>.ics`` on the gateway."""
    return f"{settings.public_url}/calendar/{kind}/{token}.ics"


def live_feed(s: Session, model: type[F], token: str) -> F | None:
    """The live feed a token opens, or None (unknown and revoked look the same)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    feed = s.scalar(select(model).where(model.token_hash == hash_token(token)))  # type: ignore[attr-defined]
    if feed is None or feed.revoked_at is not None:
        return None
    return feed


def revoke(s: Session, model: type[F], feed_id: uuid.UUID, may: Callable[[F], bool]) -> None:
    """Revoke a feed the caller ``may`` touch. Revoking twice is a success (DELETE is
    idempotent: a retried or double-clicked revoke is not an error); a feed the caller
    may not touch is a 404, as if it did not exist."""
    feed = s.get(model, feed_id)
    if feed is None or not may(feed):
        raise Problem(404, "Not found", "No such calendar feed.", kind="not-found")
    if feed.revoked_at is None:
        feed.revoked_at = utcnow()


def not_found() -> Problem:
    return Problem(404, "Not found", "No such calendar feed.", kind="not-found")


def unchanged(etag: str, last_modified: datetime) -> bool:
    """Whether the poller's copy (If-None-Match / If-Modified-Since) is current: then
    answer ``not_modified`` without loading or rendering anything."""
    return not is_resource_modified(request.environ, etag=etag, last_modified=last_modified)


def not_modified(etag: str) -> Response:
    """A 304 with the ETag and caching headers a 200 would carry (werkzeug drops
    Last-Modified from a 304, as from every bodiless answer)."""
    resp = Response(status=304)
    resp.set_etag(etag)
    resp.cache_control.private = True
    resp.cache_control.max_age = FEED_MAX_AGE
    return resp


def calendar_response(
    body: bytes, etag: str, last_modified: datetime, *, filename: str
) -> Response:
    """The rendered feed with the version the next poll is compared with."""
    resp = feed_response(body, last_modified, filename=filename)
    resp.set_etag(etag)
    return resp
