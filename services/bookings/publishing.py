"""The bookings.* events, written to the outbox in the caller's transaction (DESIGN §4).

Every state change that another service cares about calls one of these; the
messaging layer's relay publishes the rows after commit.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.bookings.models import Booking


def booking_confirmed(s: Session, booking: Booking) -> None:
    """A place is held for ``booking`` (budget accounts for funded places)."""


def booking_cancelled(s: Session, booking: Booking) -> None:
    """``booking`` was cancelled (budget releases any commitment)."""


def attendance_recorded(s: Session, booking: Booking) -> None:
    """A hub lead marked ``booking`` attended or no_show."""
