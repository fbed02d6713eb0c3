"""Calendar invites for bookings (docs/architecture.md, "Calendars"): one UID per booking,
SEQUENCE stored per booking.

SEQUENCE is 0 on the first REQUEST and +1 on every later update or cancellation;
``booking.invite_sequence`` remembers the last one sent, so a reschedule after a
promotion, or a cancellation after two reschedules, continues the same count and
calendar apps replace the event instead of adding a second one.
"""

from __future__ import annotations

import uuid
from email.message import EmailMessage

from sqlalchemy.orm import Session

from services.bookings.models import Booking, SessionReplica
from shared import invites as shared_invites
from shared.calendar import (
    LONDON,
    Attendee,
    CalendarItem,
    invite_uid,
)
from shared.config import Settings
from shared.db import utcnow
from shared.mail import MailBody, queue_mail


def london_range(row: SessionReplica) -> str:
    start = row.starts_at.astimezone(LONDON)
    end = row.ends_at.astimezone(LONDON)
    return f"{start:%A %d %B %Y, %H:%M} to {end:%H:%M} (UK time)"


def booking_uid(settings: Settings, booking: Booking) -> str:
    return invite_uid("booking", booking.id, settings.public_host)


def next_sequence(booking: Booking) -> int:
    return shared_invites.next_sequence(booking.invite_sequence)


def invite_item(
    settings: Settings,
    row: SessionReplica,
    *,
    booking_id: uuid.UUID,
    email: str,
    name: str | None,
    method: str,
    sequence: int,
) -> CalendarItem:
    organizer_email, organizer_name = shared_invites.organizer(settings)
    lines = [row.summary or ""]
    if row.venue:
        lines.append(f"Venue: {row.venue}")
    if row.online_url:
        lines.append(f"Join online: {row.online_url}")
    return CalendarItem(
        uid=invite_uid("booking", booking_id, settings.public_host),
        summary=row.title,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        dtstamp=utcnow(),
        description="\n".join(line for line in lines if line),
        location=row.venue or row.online_url,
        url=row.online_url,
        sequence=sequence,
        status="CANCELLED" if method == "CANCEL" else "CONFIRMED",
        organizer_email=organizer_email,
        organizer_name=row.hub_name or organizer_name,
        attendees=[Attendee(email=email, name=name or None)],
    )


def build(
    settings: Settings,
    row: SessionReplica,
    *,
    booking_id: uuid.UUID,
    email: str,
    name: str | None,
    method: str,
    sequence: int,
    subject: str,
    body: MailBody,
) -> EmailMessage:
    """The mail (text and HTML) with its invite (pure: no database, so it can be made
    outside a lock)."""
    item = invite_item(
        settings,
        row,
        booking_id=booking_id,
        email=email,
        name=name,
        method=method,
        sequence=sequence,
    )
    return shared_invites.invite_message(
        settings, item, method=method, to=email, subject=subject, body=body
    )


def send(
    s: Session,
    settings: Settings,
    booking: Booking,
    *,
    method: str,
    subject: str,
    body: MailBody,
) -> None:
    """Queue the mail for ``booking`` with its invite, and remember the SEQUENCE sent."""
    sequence = next_sequence(booking)
    msg = build(
        settings,
        booking.session,
        booking_id=booking.id,
        email=booking.user_email,
        name=booking.user_name,
        method=method,
        sequence=sequence,
        subject=subject,
        body=body,
    )
    booking.invite_sequence = sequence
    queue_mail(s, msg)
