"""Catalogue tables (this service's own database; no other service reads them).

Audience and topics are kept twice on an event: a JSON list (what the API returns) and
a ``|a|b|`` key string that a portable ``LIKE '%|b|%'`` filters on, so one SQL works on
SQLite and PostgreSQL without array types or join tables. ``search_text`` is the
lower-cased title, summary and topics that ``q`` matches.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import UTCDateTime, new_id, new_metadata, utcnow


class Base(DeclarativeBase):
    metadata = new_metadata()


KINDS = ("webinar", "training", "moderation", "network_meeting")
FORMATS = ("online", "in_person", "hybrid")
EVENT_STATUSES = ("draft", "published", "cancelled")
SESSION_STATUSES = ("scheduled", "cancelled")

DRAFT, PUBLISHED, CANCELLED = EVENT_STATUSES
SCHEDULED = "scheduled"


def list_key(values: list[str] | tuple[str, ...]) -> str:
    """``["a", "b"]`` → ``"|a|b|"`` (empty list → ``"|"``): what the filters match on."""
    return "|" + "".join(f"{v}|" for v in values)


class Hub(Base):
    __tablename__ = "hubs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    region: Mapped[str] = mapped_column(String(100))
    host_setting: Mapped[str | None] = mapped_column(String(200))
    eip: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_hub_status", "hub_id", "status"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    hub_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hubs.id"))
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    summary: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    format: Mapped[str] = mapped_column(String(20))
    audience: Mapped[list[str]] = mapped_column(JSON, default=list)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    audience_key: Mapped[str] = mapped_column(String(200), default="|")
    topics_key: Mapped[str] = mapped_column(String(600), default="|")
    search_text: Mapped[str] = mapped_column(Text, default="")
    cpd_hours: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    price_pence: Mapped[int] = mapped_column(Integer, default=0)
    funded_places: Mapped[int] = mapped_column(Integer, default=0)
    cost_per_funded_place_pence: Mapped[int] = mapped_column(Integer, default=0)
    #: The budget line a hub-funded place is charged to.
    funding_line: Mapped[str] = mapped_column(
        String(40), default="backfill", server_default="backfill"
    )
    #: Setting types the hub funds places for (empty: every setting type).
    funded_setting_types: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    #: A practitioner who cancels at least this many days before gets a full refund.
    refund_days_before: Mapped[int] = mapped_column(Integer, default=7, server_default="7")
    capacity: Mapped[int] = mapped_column(Integer)
    venue: Mapped[str | None] = mapped_column(String(300))
    online_url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default=DRAFT)
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    hub: Mapped[Hub] = relationship(lazy="joined", innerjoin=True)

    def refresh_keys(self) -> None:
        """Recompute the filter and search columns from the lists and texts."""
        self.audience_key = list_key(self.audience or [])
        self.topics_key = list_key(self.topics or [])
        words = [self.title or "", self.summary or "", *(self.topics or [])]
        words += [t.replace("_", " ") for t in self.topics or []]
        self.search_text = " ".join(words).lower()


class CatalogueSession(Base):
    """One occurrence of an event (``Session`` would clash with SQLAlchemy's)."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_listing", "status", "starts_at", "id"),
        Index("ix_sessions_hub_listing", "hub_id", "status", "starts_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id"), index=True)
    hub_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hubs.id"))
    series_id: Mapped[uuid.UUID | None] = mapped_column()
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    capacity: Mapped[int] = mapped_column(Integer)
    venue: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), default=SCHEDULED)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    event: Mapped[Event] = relationship(lazy="joined", innerjoin=True)

    @property
    def effective_venue(self) -> str | None:
        """A session may move room; otherwise it is where its event is."""
        return self.venue or self.event.venue

    @property
    def last_changed(self) -> datetime:
        """When anything a calendar shows last changed (the feed's DTSTAMP)."""
        return max(self.updated_at, self.event.updated_at)


class AuditEntry(Base):
    """Who did what to an event or one of its sessions, and when."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_event_at", "event_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id"))
    session_id: Mapped[uuid.UUID | None] = mapped_column()
    hub_id: Mapped[uuid.UUID] = mapped_column()
    action: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[str] = mapped_column(String(64))
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
