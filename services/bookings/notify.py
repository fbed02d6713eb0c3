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
from shared.mail import MailBody, MailTemplates, new_message, queue_mail

#: ``services/bookings/templates/mail/``: one ``.txt`` and one ``.html`` per mail, sharing
#: the ``_where`` partial (venue and/or joining link) and the HTML ``_base``.
TEMPLATES = MailTemplates("services.bookings")


def render(
    template: str, row: SessionReplica, /, *, person: str | None, **context: object
) -> MailBody:
    """Mail ``template`` about session ``row`` for ``person`` (their display name)."""
    return TEMPLATES.render(
        template, session=row, name=person, when=invites.london_range(row), **context
    )


@dataclass(frozen=True)
class Prepared:
    """A confirmation mail built before the session lock, valid for one session version."""

    booking_id: uuid.UUID
    version: tuple[int, datetime]
    message: EmailMessage


def session_version(row: SessionReplica) -> tuple[int, datetime]:
    return (row.sequence, row.updated_at)


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
        body=render("confirmed", row, person=name),
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
        body = render(
            "waitlisted", row, person=booking.user_name, position=booking.waitlist_position
        )
        _queue_plain(s, settings, booking, subject=f"Waiting list: {row.title}", body=body)


def _queue_plain(
    s: Session, settings: Settings, booking: Booking, *, subject: str, body: MailBody
) -> None:
    """A mail without an invite (nothing was ever put in their calendar)."""
    message = new_message(
        settings, to=booking.user_email, subject=subject, text=body.text, html=body.html
    )
    queue_mail(s, message)


def confirmed(s: Session, settings: Settings, booking: Booking, *, subject: str) -> None:
    body = render("confirmed", booking.session, person=booking.user_name)
    invites.send(s, settings, booking, method="REQUEST", subject=subject, body=body)


def promoted(s: Session, settings: Settings, booking: Booking) -> None:
    confirmed(s, settings, booking, subject=f"A place came up: {booking.session.title}")


def rescheduled(s: Session, settings: Settings, booking: Booking) -> None:
    row = booking.session
    subject = f"Moved: {row.title}"
    invite = booking.status in HOLDING_PLACE and booking.invite_sequence is not None
    body = render("rescheduled", row, person=booking.user_name, invite=invite)
    if invite:
        invites.send(s, settings, booking, method="REQUEST", subject=subject, body=body)
    else:  # waiting list: no invite was sent, so just tell them
        _queue_plain(s, settings, booking, subject=subject, body=body)


def cancelled(
    s: Session, settings: Settings, booking: Booking, *, was: str, session_cancelled: bool
) -> None:
    row = booking.session
    if session_cancelled:
        subject = f"Cancelled by the hub: {row.title}"
    else:
        subject = f"Booking cancelled: {row.title}"
    invite = booking.invite_sequence is not None
    body = render(
        "cancelled", row, person=booking.user_name, by_hub=session_cancelled, invite=invite
    )
    if invite:
        invites.send(s, settings, booking, method="CANCEL", subject=subject, body=body)
    else:
        _queue_plain(s, settings, booking, subject=subject, body=body)
