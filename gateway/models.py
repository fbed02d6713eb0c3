"""Gateway tables: identity (users, roles, hub memberships).

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
