"""Mentoring tables (this service's own database; no other service reads them).

- ``mentors``: one profile per mentor (a user with the ``mentor`` role), in one hub.
- ``mentoring_requests``: what a practitioner asks a hub for; at most one live (``open``
  or ``matched``) per practitioner and hub, backed by a partial unique index.
- ``matching_runs`` and ``matches``: a hub's matching run and the matches it proposed;
  at most one live (``proposed`` or ``active``) match per request, backed by a partial
  unique index, so two runs can never propose the same request twice.
- ``hub_locks``: one row per hub, locked (``SELECT ... FOR UPDATE``) by a matching run
  and every change of a match or request of that hub, so runs on one hub are serialised.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import UTCDateTime, new_id, new_metadata, utcnow


class Base(DeclarativeBase):
    metadata = new_metadata()


# -- request states ------------------------------------------------------------------
OPEN = "open"
MATCHED = "matched"
WITHDRAWN = "withdrawn"
CLOSED = "closed"
REQUEST_STATUSES = (OPEN, MATCHED, WITHDRAWN, CLOSED)
#: A request in one of these counts as the practitioner's one request at that hub.
LIVE_REQUEST = (OPEN, MATCHED)

# -- match states ----------------------------------------------------------------------
PROPOSED = "proposed"
ACTIVE = "active"
DECLINED = "declined"
#: The mentee withdrew their request while the match was only proposed.
MATCH_WITHDRAWN = "withdrawn"
MATCH_CLOSED = "closed"
MATCH_STATUSES = (PROPOSED, ACTIVE, DECLINED, MATCH_WITHDRAWN, MATCH_CLOSED)
#: Matches that take one of the mentor's places (their ``load``).
LIVE_MATCH = (PROPOSED, ACTIVE)

FORMATS = ("online", "in_person")

_LIVE_REQUEST_SQL = "status IN ('open', 'matched')"
_LIVE_MATCH_SQL = "status IN ('proposed', 'active')"


class MentorProfile(Base):
    __tablename__ = "mentors"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(64), unique=True)
    hub_id: Mapped[uuid.UUID] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    specialisms: Mapped[list[str]] = mapped_column(JSON, default=list)
    setting_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    formats: Mapped[list[str]] = mapped_column(JSON, default=list)
    region: Mapped[str | None] = mapped_column(String(100), nullable=True)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    capacity: Mapped[int] = mapped_column(Integer)
    bio: Mapped[str | None] = mapped_column(Text, nullable=True)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    setting_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MentoringRequest(Base):
    __tablename__ = "mentoring_requests"
    __table_args__ = (
        Index(
            "uq_mentoring_requests_live_mentee_hub",
            "mentee_id",
            "hub_id",
            unique=True,
            sqlite_where=text(_LIVE_REQUEST_SQL),
            postgresql_where=text(_LIVE_REQUEST_SQL),
        ),
        Index("ix_mentoring_requests_hub_status", "hub_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    hub_id: Mapped[uuid.UUID] = mapped_column()
    mentee_id: Mapped[str] = mapped_column(String(64), index=True)
    mentee_name: Mapped[str] = mapped_column(String(200), default="")
    mentee_email: Mapped[str] = mapped_column(String(320), default="")
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    goals: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(20))
    setting_type: Mapped[str] = mapped_column(String(40))
    setting_name: Mapped[str] = mapped_column(String(200))
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    region: Mapped[str | None] = mapped_column(String(100), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default=OPEN)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MatchingRun(Base):
    __tablename__ = "matching_runs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    hub_id: Mapped[uuid.UUID] = mapped_column(index=True)
    run_by: Mapped[str] = mapped_column(String(64))
    #: The weights the run used (settings at the time), term → points.
    weights: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    #: ``[{"request_id": str, "reason": str}]``: open requests the run could not match.
    unmatched: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    matches: Mapped[list[Match]] = relationship(
        back_populates="run", lazy="selectin", order_by="Match.proposed_at"
    )


class Match(Base):
    __tablename__ = "matches"
    __table_args__ = (
        Index(
            "uq_matches_live_request",
            "request_id",
            unique=True,
            sqlite_where=text(_LIVE_MATCH_SQL),
            postgresql_where=text(_LIVE_MATCH_SQL),
        ),
        Index("ix_matches_mentor_status", "mentor_id", "status"),
        Index("ix_matches_hub_status", "hub_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("matching_runs.id"), index=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mentoring_requests.id"))
    hub_id: Mapped[uuid.UUID] = mapped_column()
    mentor_id: Mapped[str] = mapped_column(String(64))
    mentee_id: Mapped[str] = mapped_column(String(64), index=True)
    score: Mapped[int] = mapped_column(Integer)
    breakdown: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=PROPOSED)
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    declined_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    declined_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decline_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    run: Mapped[MatchingRun] = relationship(back_populates="matches")
    request: Mapped[MentoringRequest] = relationship(lazy="joined")

    def touch(self) -> None:
        self.updated_at = utcnow()


class HubLock(Base):
    """A row per hub that matching runs (and match changes) lock to take turns."""

    __tablename__ = "hub_locks"

    hub_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
