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
from services.bookings.models import (
    CONFIRMED,
    HOLDING_PLACE,
    WAITLISTED,
    Booking,
    Payment,
    SessionReplica,
)
from shared.calendar import LONDON
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
    body = render(
        "confirmed", booking.session, person=booking.user_name, funded=booking.funding == "funded"
    )
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


def pounds(pence: int) -> str:
    return f"£{pence / 100:,.2f}"


def london_time(moment: datetime) -> str:
    """A moment in UK time, as ``invites.london_range`` writes the session's times."""
    return f"{moment.astimezone(LONDON):%A %d %B %Y, %H:%M} (UK time)"


def paid(s: Session, settings: Settings, booking: Booking, payment: Payment) -> None:
    """The receipt, which is also the confirmation with the calendar invite."""
    row = booking.session
    body = render(
        "paid",
        row,
        person=booking.user_name,
        amount=pounds(payment.amount_pence),
        reference=payment.payment_intent_id,
        booking_id=booking.id,
    )
    invites.send(
        s, settings, booking, method="REQUEST", subject=f"Paid and booked: {row.title}", body=body
    )


def offered(s: Session, settings: Settings, booking: Booking) -> None:
    """A paid session's waiting list: the place is offered, held until the offer lapses."""
    row = booking.session
    assert booking.hold_expires_at is not None
    body = render(
        "offered",
        row,
        person=booking.user_name,
        amount=pounds(booking.price_pence),
        until=london_time(booking.hold_expires_at),
        link=f"{settings.public_url}/my-bookings#booking-{booking.id}",
    )
    _queue_plain(
        s, settings, booking, subject=f"A place is yours if you want it: {row.title}", body=body
    )


def funding_declined(s: Session, settings: Settings, booking: Booking, *, detail: str) -> None:
    """The hub's budget cannot fund the place: say why, and how to book it unfunded."""
    row = booking.session
    body = render(
        "funding_declined",
        row,
        person=booking.user_name,
        detail=detail,
        link=f"{settings.public_url}/sessions/{row.id}",
        price=pounds(row.price_pence) if row.price_pence else None,
    )
    _queue_plain(s, settings, booking, subject=f"No funded place: {row.title}", body=body)


def payment_refunded(
    s: Session, settings: Settings, booking: Booking, *, amount_pence: int, why: str
) -> None:
    """A payment we could not use (too late, session cancelled, paid twice) goes back."""
    row = booking.session
    body = render(
        "payment_refunded", row, person=booking.user_name, amount=pounds(amount_pence), why=why
    )
    _queue_plain(s, settings, booking, subject=f"Refund of your payment: {row.title}", body=body)


def cancelled(
    s: Session,
    settings: Settings,
    booking: Booking,
    *,
    was: str,
    session_cancelled: bool,
    note: str | None = None,
    refund_pence: int = 0,
) -> None:
    row = booking.session
    if session_cancelled:
        subject = f"Cancelled by the hub: {row.title}"
    else:
        subject = f"Booking cancelled: {row.title}"
    invite = booking.invite_sequence is not None
    body = render(
        "cancelled",
        row,
        person=booking.user_name,
        by_hub=session_cancelled,
        invite=invite,
        note=note,
        paid=booking.paid_pence > 0,
        refund_pence=refund_pence,
        refund=pounds(refund_pence),
    )
    if invite:
        invites.send(s, settings, booking, method="CANCEL", subject=subject, body=body)
    else:
        _queue_plain(s, settings, booking, subject=subject, body=body)
