"""Calendar invites for bookings (DESIGN §6): one UID per booking, SEQUENCE stored per booking.

SEQUENCE is 0 on the first REQUEST, and +1 on every later update or cancellation;
``booking.invite_sequence`` remembers the last one sent.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from services.bookings.models import Booking, SessionReplica
from shared.config import Settings
from shared.mail import new_message, queue_mail

LONDON = ZoneInfo("Europe/London")


def london_range(row: SessionReplica) -> str:
    start = row.starts_at.astimezone(LONDON)
    end = row.ends_at.astimezone(LONDON)
    return f"{start:%A %d %B %Y, %H:%M} to {end:%H:%M} (UK time)"


def booking_uid(settings: Settings, booking: Booking) -> str:
    return f"booking-{booking.id}@{settings.public_host}"


def next_sequence(booking: Booking) -> int:
    return 0 if booking.invite_sequence is None else booking.invite_sequence + 1


def send(
    s: Session, settings: Settings, booking: Booking, *, method: str, subject: str, text: str
) -> None:
    """Queue the mail for ``booking`` with its invite, and remember the SEQUENCE sent."""
    sequence = next_sequence(booking)
    msg = new_message(settings, to=booking.user_email, subject=subject, text=text)
    booking.invite_sequence = sequence
    queue_mail(s, msg)
