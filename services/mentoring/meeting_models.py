"""Mentoring meetings and caseload calendar feeds (this service's own database).

- ``meetings``: a meeting of a match's pair, with its calendar invite's last SEQUENCE
  (``invite_sequence``: 0 on the first REQUEST, +1 on every update and on the
  cancellation) and, once the mentor logged it, its minutes, notes and next steps (the
  notes and next steps are the pair's only: leads see minutes and counts). The match's
  hub, mentor and mentee are copied in (a match's parties never change), so the feeds,
  which read a person's meetings as mentor or mentee, need no join to find them.
- ``calendar_feeds``: a person's caseload subscription; only the SHA-256 of its token is
  stored (``shared.feeds.FeedColumns``).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.mentoring.models import Base
from shared.db import UTCDateTime, new_id, utcnow
from shared.feeds import FeedColumns

# -- meeting states ----------------------------------------------------------------------
SCHEDULED = "scheduled"
CANCELLED = "cancelled"
MEETING_STATUSES = (SCHEDULED, CANCELLED)

ONLINE = "online"
IN_PERSON = "in_person"
MEETING_FORMATS = (ONLINE, IN_PERSON)

MAX_LOCATION = 300
MAX_URL = 500
MAX_NOTES = 10_000


class Meeting(Base):
    __tablename__ = "meetings"
    __table_args__ = (
        # A match's meetings (the list, the caseload's stats), in time order.
        Index("ix_meetings_match_starts", "match_id", "starts_at"),
        # A person's caseload feed: their meetings as mentor, and as mentee, in the window.
        Index("ix_meetings_mentor_ends", "mentor_id", "ends_at"),
        Index("ix_meetings_mentee_ends", "mentee_id", "ends_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    match_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("matches.id"))
    hub_id: Mapped[uuid.UUID] = mapped_column()
    mentor_id: Mapped[str] = mapped_column(String(64))
    mentee_id: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    format: Mapped[str] = mapped_column(String(20))
    location: Mapped[str | None] = mapped_column(String(MAX_LOCATION), nullable=True)
    online_url: Mapped[str | None] = mapped_column(String(MAX_URL), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default=SCHEDULED)
    #: The SEQUENCE of the last invite mailed (None: none yet).
    invite_sequence: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Stamped on every change a feed shows (times, place, status, sequence).
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # -- the mentor's log (all None until logged) --
    logged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_steps: Mapped[str | None] = mapped_column(Text, nullable=True)

    def touch(self) -> None:
        self.updated_at = utcnow()


class CaseloadFeed(FeedColumns, Base):
    """A caseload subscription URL (its owner's meetings as mentor or mentee)."""

    __tablename__ = "calendar_feeds"
