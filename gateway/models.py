"""Gateway tables: identity (users, roles, hub memberships, refresh tokens).

Emails are stored normalised (stripped, lower-case) so the unique index makes them
unique case-insensitively on every backend without dialect-specific collations.
Hub ids are plain UUIDs: hubs live in the catalogue's database, not here.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import UTCDateTime, new_id, new_metadata, utcnow


class Base(DeclarativeBase):
    metadata = new_metadata()


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    setting_type: Mapped[str | None] = mapped_column(String(32))
    setting_name: Mapped[str | None] = mapped_column(String(200))
    ofsted_urn: Mapped[str | None] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Set when the owner followed the link mailed at sign-up (admin-made and demo
    #: accounts are confirmed when created); unconfirmed accounts cannot book.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Tokens issued before this instant are void (deactivation, sign-out everywhere).
    tokens_valid_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    role_rows: Mapped[list[UserRole]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="UserRole.role"
    )
    hub_rows: Mapped[list[HubMembership]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="HubMembership.hub_id"
    )

    @property
    def roles(self) -> list[str]:
        return [r.role for r in self.role_rows]

    @property
    def hub_ids(self) -> list[str]:
        return [str(h.hub_id) for h in self.hub_rows]


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (
        CheckConstraint("role IN ('practitioner', 'mentor', 'hub_lead', 'admin')", name="role"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(20), primary_key=True)


class HubMembership(Base):
    __tablename__ = "hub_memberships"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    hub_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, index=True)


class RefreshToken(Base):
    """One refresh token, stored as its SHA-256 (the token itself is only ever sent).

    Single use: refreshing marks it used and issues the next one in the same
    ``family_id``. Presenting a used token again means it leaked (or a client raced
    itself): the whole family is revoked, so the thief's copy dies with the owner's.
    """

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class KnownHub(Base):
    """A hub that exists (learned from ``catalogue.hub.created``; hubs live in the
    catalogue): users' ``hub_ids`` must name one of these."""

    __tablename__ = "known_hubs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
