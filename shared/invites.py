"""Calendar invites by mail, for every service that sends them (bookings' places,
mentoring's meetings; docs/architecture.md, "Calendars").

One UID per thing invited to, and a SEQUENCE the service stores with it: 0 on the first
REQUEST, +1 on every later update or cancellation, so calendar apps replace the event
instead of adding a second one. The mail goes through the kernel's mail outbox.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.parser import HeaderParser
from email.policy import default as default_policy

from shared.calendar import CalendarItem, attach_invite, build_calendar
from shared.config import Settings
from shared.mail import MailBody, new_message


def next_sequence(last_sent: int | None) -> int:
    """The SEQUENCE of the next invite, given the last one sent (None: none yet)."""
    return 0 if last_sent is None else last_sent + 1


def organizer(settings: Settings) -> tuple[str, str]:
    """The platform's sender as a bare address and display name (the ORGANIZER)."""
    parsed = HeaderParser(policy=default_policy).parsestr(f"From: {settings.mail_from}\n\n")
    address = parsed["From"].addresses[0]
    return address.addr_spec, address.display_name or "eyhub"


def invite_message(
    settings: Settings,
    item: CalendarItem,
    *,
    method: str,
    to: str,
    subject: str,
    body: MailBody,
) -> EmailMessage:
    """The mail (text and HTML) carrying ``item`` as a ``method`` invite (pure: no
    database, so it can be made outside a lock)."""
    msg = new_message(settings, to=to, subject=subject, text=body.text, html=body.html)
    attach_invite(msg, build_calendar([item], method=method))
    return msg
