"""What a practitioner is told when their booking changes (mail, queued in the same transaction).

Confirmations, promotions and reschedules carry a calendar invite (``invites``);
the SEQUENCE last sent is stored on the booking so updates and cancellations follow it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from sqlalchemy.orm import Session

from services.bookings import invites
from services.bookings.models import CONFIRMED, HOLDING_PLACE, WAITLISTED, Booking, SessionReplica
from shared.config import Settings
from shared.mail import new_message, queue_mail


def _when(booking: Booking) -> str:
    return invites.london_range(booking.session)


def _where(booking: Booking) -> str:
    row = booking.session
    parts = []
    if row.venue:
        parts.append(f"Venue: {row.venue}")
    if row.online_url:
        parts.append(f"Join online: {row.online_url}")
    return "\n".join(parts)


@dataclass(frozen=True)
class Prepared:
    """A confirmation mail built before the session lock, valid for one session version."""

    booking_id: uuid.UUID
    version: tuple[int, datetime]
    message: EmailMessage


def session_version(row: SessionReplica) -> tuple[int, datetime]:
    return (row.sequence, row.updated_at)


def _confirmation_text(name: str | None, row: SessionReplica) -> str:
    where = []
    if row.venue:
        where.append(f"Venue: {row.venue}")
    if row.online_url:
        where.append(f"Join online: {row.online_url}")
    return (
        f"Hello {name or 'there'},\n\n"
        f"Your place on {row.title} is confirmed.\n"
        f"When: {invites.london_range(row)}\n" + "\n".join(where) + "\n\n"
        "The attached invite adds it to your calendar.\n"
    )


def prepare_confirmation(
    settings: Settings, row: SessionReplica, *, booking_id: uuid.UUID, email: str, name: str
) -> Prepared:
    """Build the likely confirmation (invite SEQUENCE 0) outside the booking's lock.

    Rendering an invite takes milliseconds; doing it while holding the session's row
    lock would cap how fast a popular session can be booked.
    """
    message = invites.build(
        settings,
        row,
        booking_id=booking_id,
        email=email,
        name=name,
        method="REQUEST",
        sequence=0,
        subject=f"Booked: {row.title}",
        text=_confirmation_text(name, row),
    )
    return Prepared(booking_id, session_version(row), message)


def booked(
    s: Session, settings: Settings, booking: Booking, prepared: Prepared | None = None
) -> None:
    """A new booking: confirmed (with an invite) or on the waiting list."""
    row = booking.session
    if booking.status == CONFIRMED:
        if (
            prepared is not None
            and prepared.booking_id == booking.id
            and prepared.version == session_version(row)
            and booking.invite_sequence is None
        ):
            booking.invite_sequence = 0
            queue_mail(s, prepared.message)
        else:
            confirmed(s, settings, booking, subject=f"Booked: {row.title}")
    elif booking.status == WAITLISTED:
        text = (
            f"Hello {booking.user_name or 'there'},\n\n"
            f"{row.title} ({_when(booking)}) is full, so you are on the waiting list "
            f"at position {booking.waitlist_position}.\n"
            "If a place frees up you will be booked in automatically and sent an invite.\n"
        )
        queue_mail(
            s,
            new_message(
                settings, to=booking.user_email, subject=f"Waiting list: {row.title}", text=text
            ),
        )


def confirmed(s: Session, settings: Settings, booking: Booking, *, subject: str) -> None:
    text = _confirmation_text(booking.user_name, booking.session)
    invites.send(s, settings, booking, method="REQUEST", subject=subject, text=text)


def promoted(s: Session, settings: Settings, booking: Booking) -> None:
    confirmed(s, settings, booking, subject=f"A place came up: {booking.session.title}")


def rescheduled(s: Session, settings: Settings, booking: Booking) -> None:
    row = booking.session
    text = (
        f"Hello {booking.user_name or 'there'},\n\n"
        f"{row.title} has moved. New time: {_when(booking)}\n{_where(booking)}\n\n"
        "The attached update moves it in your calendar.\n"
    )
    if booking.status in HOLDING_PLACE and booking.invite_sequence is not None:
        invites.send(
            s, settings, booking, method="REQUEST", subject=f"Moved: {row.title}", text=text
        )
    else:  # waiting list: no invite was sent, so just tell them
        queue_mail(
            s,
            new_message(settings, to=booking.user_email, subject=f"Moved: {row.title}", text=text),
        )


def cancelled(
    s: Session, settings: Settings, booking: Booking, *, was: str, session_cancelled: bool
) -> None:
    row = booking.session
    if session_cancelled:
        why = f"\nReason: {row.cancel_reason}\n" if row.cancel_reason else ""
        text = (
            f"Hello {booking.user_name or 'there'},\n\n"
            f"We are sorry: {row.title} ({_when(booking)}) has been cancelled by the hub.\n"
            f"{why}Your booking is cancelled and the invite is withdrawn from your calendar.\n"
        )
        subject = f"Cancelled by the hub: {row.title}"
    else:
        text = (
            f"Hello {booking.user_name or 'there'},\n\n"
            f"Your booking for {row.title} ({_when(booking)}) is cancelled.\n"
        )
        subject = f"Booking cancelled: {row.title}"
    if booking.invite_sequence is not None:
        invites.send(s, settings, booking, method="CANCEL", subject=subject, text=text)
    else:
        queue_mail(s, new_message(settings, to=booking.user_email, subject=subject, text=text))
