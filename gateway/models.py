"""Gateway tables: identity (users, roles, hub memberships)."""

from sqlalchemy.orm import DeclarativeBase

from shared.db import new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()
