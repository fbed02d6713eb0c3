"""Budget tables (this service's own database; no other service reads them)."""

from sqlalchemy.orm import DeclarativeBase

from shared.db import new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()
