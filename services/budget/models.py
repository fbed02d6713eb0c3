"""Budget tables (this service's own database; no other service reads them).

A double-entry-style ledger after TigerBeetle's model (docs/budget.md):

- ``accounts``: one per (hub, financial year, line) with its balances (``allocated``,
  ``committed``, ``spent``, ``income``, ``refunds``), changed only under the row's lock
  in the transaction that writes the transfer causing the change.
- ``transfers``: immutable movements with a client-chosen (or derived) id. Each stores
  its effect on the account's balances (``d_*`` columns), so the balances can always be
  recomputed from the transfers alone, and a reversal is the exact negation of what it
  reverses. A transfer is reversed at most once (unique ``reverses_id``).
- ``account_months``: the same effects summed per account and month (London), kept in
  the same transaction, so a summary reads a few dozen rows whatever the volume.
- ``fundings``: the saga state of one booking's funding request (a decision, the pending
  transfer, attendance, a cancellation that arrived first as a tombstone).
- ``hub_settings``, ``alerts`` (thresholds raised, once each), ``event_locks`` (one row
  per catalogue event: funding requests of one event take turns, so funded places are
  counted exactly).
- ``reconciliation_resolutions``: a hub lead's note on a reconciliation item (a card
  payment or refund compared with Stripe), keyed by the item's id (its Stripe id).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UTCDateTime, new_id, new_metadata, utcnow
from shared.events.bookings import BUDGET_LINES


class Base(DeclarativeBase):
    metadata = new_metadata()


LINES = BUDGET_LINES

# -- transfer kinds ----------------------------------------------------------------------
ALLOCATION = "allocation"
SPEND = "spend"
PENDING = "pending"
POST = "post"
VOID = "void"
INCOME = "income"
REFUND = "refund"
REVERSAL = "reversal"
KINDS = (ALLOCATION, SPEND, PENDING, POST, VOID, INCOME, REFUND, REVERSAL)
#: What resolves a pending transfer (while not reversed).
RESOLUTIONS = (POST, VOID)

# -- where a transfer came from ------------------------------------------------------------
ORIGINS = ("api", "bookings", "mentoring")

# -- funding saga states ---------------------------------------------------------------------
#: Attendance arrived before the funding request: remembered, applied on commitment.
AWAITING = "awaiting"
#: The cancellation arrived before the funding request: a tombstone, so it declines.
CANCELLED = "cancelled"
DECLINED = "declined"
COMMITTED = "committed"
POSTED = "posted"
VOIDED = "voided"
FUNDING_STATUSES = (AWAITING, CANCELLED, DECLINED, COMMITTED, POSTED, VOIDED)
#: Fundings that take one of the event's funded places (pending or posted, not voided).
HOLDS_A_PLACE = (COMMITTED, POSTED)

# -- hub settings ------------------------------------------------------------------------------
NO_SHOW_POLICIES = ("void", "post")
DEFAULT_THRESHOLDS = (80, 100)
DEFAULT_NO_SHOW_POLICY = "void"

# -- reconciliation against Stripe ---------------------------------------------------------------
MATCHED = "matched"
AMOUNT_MISMATCH = "amount_mismatch"
LEDGER_ONLY = "ledger_only"
STRIPE_ONLY = "stripe_only"
MATCH_STATUSES = (MATCHED, AMOUNT_MISMATCH, LEDGER_ONLY, STRIPE_ONLY)
#: What a reconciliation item is about: a card payment (``charge``) or a ``refund``.
ITEM_KINDS = ("charge", "refund")


@dataclass(frozen=True)
class Effect:
    """What a transfer does to its account's balances (signed pence)."""

    allocated: int = 0
    committed: int = 0
    spent: int = 0
    income: int = 0
    refunds: int = 0

    def negated(self) -> Effect:
        return Effect(-self.allocated, -self.committed, -self.spent, -self.income, -self.refunds)

    @property
    def available(self) -> int:
        return self.allocated + self.income - self.refunds - self.committed - self.spent

    @property
    def used(self) -> int:
        return self.committed + self.spent


BALANCES = ("allocated", "committed", "spent", "income", "refunds")


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("hub_id", "financial_year", "line"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    hub_id: Mapped[uuid.UUID] = mapped_column()
    financial_year: Mapped[str] = mapped_column(String(7))
    line: Mapped[str] = mapped_column(String(30))
    allocated: Mapped[int] = mapped_column(BigInteger, default=0)
    committed: Mapped[int] = mapped_column(BigInteger, default=0)
    spent: Mapped[int] = mapped_column(BigInteger, default=0)
    income: Mapped[int] = mapped_column(BigInteger, default=0)
    refunds: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def available(self) -> int:
        """What can still be committed or spent: allocated + income - refunds - used."""
        return self.allocated + self.income - self.refunds - self.committed - self.spent

    @property
    def used(self) -> int:
        return self.committed + self.spent


class Transfer(Base):
    __tablename__ = "transfers"
    __table_args__ = (
        Index("ix_transfers_hub_created", "hub_id", "created_at", "id"),
        Index("ix_transfers_hub_year_created", "hub_id", "financial_year", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    hub_id: Mapped[uuid.UUID] = mapped_column()
    financial_year: Mapped[str] = mapped_column(String(7))
    line: Mapped[str] = mapped_column(String(30))
    kind: Mapped[str] = mapped_column(String(20))
    #: Always positive: the money the transfer is about (a post: what was spent; a void:
    #: what was released; a reversal: the amount of what it reverses).
    amount_pence: Mapped[int] = mapped_column(BigInteger)
    d_allocated: Mapped[int] = mapped_column(BigInteger, default=0)
    d_committed: Mapped[int] = mapped_column(BigInteger, default=0)
    d_spent: Mapped[int] = mapped_column(BigInteger, default=0)
    d_income: Mapped[int] = mapped_column(BigInteger, default=0)
    d_refunds: Mapped[int] = mapped_column(BigInteger, default=0)
    #: A post or void: the pending transfer it resolves.
    pending_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True, index=True)
    #: A reversal: the transfer it reverses (each at most once).
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True, unique=True)
    #: The day the money moved (London), within the account's financial year.
    booked_on: Mapped[date] = mapped_column(Date)
    month: Mapped[str] = mapped_column(String(7))
    source: Mapped[str | None] = mapped_column(String(200), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    reference: Mapped[str | None] = mapped_column(String(100), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    booking_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True, index=True)
    event_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    match_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    #: Stripe's ids, for reconciliation against Stripe.
    payment_intent: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    charge: Mapped[str | None] = mapped_column(String(255), nullable=True)
    refund_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    checkout_session: Mapped[str | None] = mapped_column(String(255), nullable=True)
    origin: Mapped[str] = mapped_column(String(20), default="api")
    #: Recorded as a fact even though it took the line below zero without an overdraft
    #: (a card refund, a logged meeting, an attendance correction): it happened.
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: sha256 of what defines the transfer: the same id with another body is a conflict.
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def effect(self) -> Effect:
        return Effect(
            self.d_allocated, self.d_committed, self.d_spent, self.d_income, self.d_refunds
        )


class AccountMonth(Base):
    """The effects of an account's transfers summed per month (the summary's source)."""

    __tablename__ = "account_months"
    __table_args__ = (Index("ix_account_months_hub_year", "hub_id", "financial_year"),)

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    hub_id: Mapped[uuid.UUID] = mapped_column()
    financial_year: Mapped[str] = mapped_column(String(7))
    allocated: Mapped[int] = mapped_column(BigInteger, default=0)
    committed: Mapped[int] = mapped_column(BigInteger, default=0)
    spent: Mapped[int] = mapped_column(BigInteger, default=0)
    income: Mapped[int] = mapped_column(BigInteger, default=0)
    refunds: Mapped[int] = mapped_column(BigInteger, default=0)


class Funding(Base):
    """One booking's funding: the saga between bookings and budget (docs/budget.md)."""

    __tablename__ = "fundings"
    __table_args__ = (
        Index("ix_fundings_event_status", "event_id", "status"),
        Index("ix_fundings_hub_year", "hub_id", "financial_year"),
    )

    booking_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    hub_id: Mapped[uuid.UUID] = mapped_column()
    event_id: Mapped[uuid.UUID] = mapped_column()
    session_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    line: Mapped[str | None] = mapped_column(String(30), nullable=True)
    financial_year: Mapped[str | None] = mapped_column(String(7), nullable=True)
    amount_pence: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    pending_transfer_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    #: What the live post of the pending transfer spent (0 unless ``posted``).
    posted_pence: Mapped[int] = mapped_column(BigInteger, default=0)
    attendance: Mapped[str | None] = mapped_column(String(20), nullable=True)
    attendance_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HubSettings(Base):
    __tablename__ = "hub_settings"

    hub_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    alert_thresholds: Mapped[list[int]] = mapped_column(JSON, default=list)
    overdraft_lines: Mapped[list[str]] = mapped_column(JSON, default=list)
    no_show_policy: Mapped[str] = mapped_column(String(10), default=DEFAULT_NO_SHOW_POLICY)
    mentor_hourly_rate_pence: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Alert(Base):
    """A threshold raised for a line (once: the primary key says so)."""

    __tablename__ = "alerts"

    hub_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    financial_year: Mapped[str] = mapped_column(String(7), primary_key=True)
    line: Mapped[str] = mapped_column(String(30), primary_key=True)
    threshold_percent: Mapped[int] = mapped_column(Integer, primary_key=True)
    allocated_pence: Mapped[int] = mapped_column(BigInteger)
    used_pence: Mapped[int] = mapped_column(BigInteger)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EventLock(Base):
    """A row per catalogue event that its funding changes lock to take turns."""

    __tablename__ = "event_locks"

    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)


class Resolution(Base):
    """Why a reconciliation item is as it is, in a hub lead's words (the latest note).

    Keyed by the item's id, which is the Stripe id the item is about (the payment intent
    of a charge, the refund's id), so the note follows the item whatever range it is
    read in. Stripe's side is never stored: it is read afresh on every reconciliation.
    """

    __tablename__ = "reconciliation_resolutions"

    hub_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    item_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resolved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When the item was first resolved (``resolved_at`` moves with each new note).
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
