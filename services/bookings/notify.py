"""What a practitioner is told when their booking changes (mail, queued in the same transaction).

Confirmations, promotions and reschedules carry a calendar invite (``invites``);
the SEQUENCE last sent is stored on the booking so updates and cancellations follow it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.bookings import invites
from services.bookings.models import CONFIRMED, HOLDING_PLACE, WAITLISTED, Booking
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


def booked(s: Session, settings: Settings, booking: Booking) -> None:
    """A new booking: confirmed (with an invite) or on the waiting list."""
    row = booking.session
    if booking.status == CONFIRMED:
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
    row = booking.session
    text = (
        f"Hello {booking.user_name or 'there'},\n\n"
        f"Your place on {row.title} is confirmed.\n"
        f"When: {_when(booking)}\n{_where(booking)}\n\n"
        "The attached invite adds it to your calendar.\n"
    )
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
