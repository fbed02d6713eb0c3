"""Bookings tables (this service's own database; no other service reads them).

``sessions`` is a replica of the catalogue's bookable sessions (fed by catalogue
events, or read through once from the catalogue); everything else is ours.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import UTCDateTime, new_id, new_metadata, utcnow


class Base(DeclarativeBase):
    metadata = new_metadata()


# -- booking states -----------------------------------------------------------------
PENDING_PAYMENT = "pending_payment"
PENDING_FUNDING = "pending_funding"
CONFIRMED = "confirmed"
WAITLISTED = "waitlisted"
OFFERED = "offered"
CANCELLED = "cancelled"
ATTENDED = "attended"
NO_SHOW = "no_show"
FUNDING_DECLINED = "funding_declined"

STATUSES = (
    PENDING_PAYMENT,
    PENDING_FUNDING,
    CONFIRMED,
    WAITLISTED,
    OFFERED,
    CANCELLED,
    ATTENDED,
    NO_SHOW,
    FUNDING_DECLINED,
)
#: Statuses that end a booking: the user may book the session again.
ENDED = (CANCELLED, FUNDING_DECLINED)
#: Statuses that hold one of the session's places (capacity is checked against these).
HOLDING_PLACE = (PENDING_PAYMENT, PENDING_FUNDING, CONFIRMED, OFFERED, ATTENDED, NO_SHOW)
#: Statuses that can still be cancelled.
CANCELLABLE = (PENDING_PAYMENT, PENDING_FUNDING, CONFIRMED, WAITLISTED, OFFERED)

_ENDED_SQL = "status NOT IN ('cancelled', 'funding_declined')"


class SessionReplica(Base):
    """What bookings needs to know about one catalogue session (a fat-event snapshot)."""

    __tablename__ = "sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(index=True)
    hub_id: Mapped[uuid.UUID] = mapped_column(index=True)
    hub_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(40), default="training")
    format: Mapped[str] = mapped_column(String(20), default="in_person")
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    #: Bookings holding a place (``HOLDING_PLACE``) and on the waiting list, kept by
    #: ``operations`` in the same transaction as every status change, so booking needs
    #: one conditional UPDATE of this row instead of counting bookings under its lock.
    #: They never touch ``updated_at`` (the replica's version, see ``notify.session_version``).
    held_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    waitlist_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: ``scheduled`` or ``cancelled`` (the session itself)
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    #: ``draft``, ``published`` or ``cancelled`` (its event)
    event_status: Mapped[str] = mapped_column(String(20), default="published")
    #: The catalogue's version of the session's times; stale events are ignored.
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    price_pence: Mapped[int] = mapped_column(Integer, default=0)
    funded_places: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cost_per_funded_place_pence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    funding_line: Mapped[str] = mapped_column(
        String(40), default="backfill", server_default="backfill"
    )
    funded_setting_types: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    #: Full refund when a practitioner cancels at least this many days before the start.
    refund_days_before: Mapped[int] = mapped_column(Integer, default=7, server_default="7")
    cpd_hours: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=Decimal("0"))
    venue: Mapped[str | None] = mapped_column(Text, nullable=True)
    online_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: When the catalogue last changed the event's fields (orders event.updated messages).
    event_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def is_free(self) -> bool:
        return not self.price_pence

    @property
    def bookable_problem(self) -> str | None:
        """Why this session cannot be booked now, or None."""
        if self.status != "scheduled" or self.event_status == "cancelled":
            return "The session has been cancelled."
        if self.event_status != "published":
            return "The session is not published."
        if self.starts_at <= utcnow():
            return "The session has already started."
        return None


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        # One active booking per (user, session), whatever the concurrency.
        Index(
            "uq_bookings_active_user_session",
            "user_id",
            "session_id",
            unique=True,
            sqlite_where=text(_ENDED_SQL),
            postgresql_where=text(_ENDED_SQL),
        ),
        UniqueConstraint("user_id", "idempotency_key", name="uq_bookings_user_id_idempotency_key"),
        Index("ix_bookings_session_status", "session_id", "status", "waitlist_position"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sessions.id"))
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    user_email: Mapped[str] = mapped_column(String(320), default="")
    user_name: Mapped[str] = mapped_column(String(200), default="")
    setting_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    waitlist_position: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: How the place is paid for (``shared.events.bookings.FUNDING``).
    funding: Mapped[str] = mapped_column(String(20), default="free")
    price_pence: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: SHA-256 of the request body the key was first used with (a different body → 422).
    request_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Last SEQUENCE sent in a calendar invite for this booking (None: none sent yet).
    invite_sequence: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    previous_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    attendance_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # -- card payments (services/bookings/payments.py) --------------------------------
    #: ``pending_payment``: the place is held until then; ``offered``: the offer lapses.
    hold_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    #: The current Stripe Checkout Session (a new one replaces an expired one).
    checkout_session_id: Mapped[str | None] = mapped_column(
        String(255), nullable=True, unique=True, index=True
    )
    checkout_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: When Stripe stops accepting payment on that session (never before the hold ends).
    checkout_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Checkout Sessions made so far: the idempotency key of the next one.
    checkout_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    paid_pence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    refunded_pence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: ``none`` | ``pending`` | ``succeeded`` | ``failed`` (the latest refund's state).
    refund_status: Mapped[str] = mapped_column(String(10), default="none", server_default="none")

    session: Mapped[SessionReplica] = relationship(lazy="joined")

    def touch(self) -> None:
        self.updated_at = utcnow()

    @property
    def refund_if_cancelled_pence(self) -> int:
        """What the practitioner would get back by cancelling now (the event's rule)."""
        if not self.paid_pence or self.status not in CANCELLABLE:
            return 0
        deadline = self.session.starts_at - timedelta(days=self.session.refund_days_before)
        return self.paid_pence - self.refunded_pence if utcnow() <= deadline else 0


class Payment(Base):
    """A card payment Stripe took for a booking (one per paid Checkout Session)."""

    __tablename__ = "payments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id"), index=True)
    checkout_session_id: Mapped[str] = mapped_column(String(255), unique=True)
    payment_intent_id: Mapped[str] = mapped_column(String(255), unique=True)
    charge_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    amount_pence: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    refunded_pence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Refund(Base):
    """Money we asked Stripe to give back; ``id`` is also the Stripe idempotency key."""

    __tablename__ = "refunds"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"), index=True)
    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id"), index=True)
    stripe_refund_id: Mapped[str | None] = mapped_column(String(255), nullable=True, unique=True)
    amount_pence: Mapped[int] = mapped_column(Integer)
    #: ``requested`` (not yet accepted by Stripe) | ``pending`` | ``succeeded`` | ``failed``
    status: Mapped[str] = mapped_column(String(10), default="requested")
    reason: Mapped[str] = mapped_column(String(40))
    requested_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StripeEvent(Base):
    """A Stripe event id we applied: each is applied once, whatever Stripe resends."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Feedback(Base):
    """One practitioner's rating of a session they attended (once per booking)."""

    __tablename__ = "feedback"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id"), unique=True)
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sessions.id"), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CalendarFeed(Base):
    """A subscription URL; only the SHA-256 of its token is stored."""

    __tablename__ = "calendar_feeds"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    scope: Mapped[str] = mapped_column(String(10))
    hub_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "scope": self.scope, "hub_id": self.hub_id}
