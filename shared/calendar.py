"""iCalendar files for invites and feeds (docs/architecture.md, "Calendars"), built with
``icalendar``.

Catalogue (public hub feeds), bookings (invites and subscription feeds) and mentoring all
write calendars through :func:`build_calendar`, so every file has the same shape:

- every time is local ``Europe/London`` with ``TZID=Europe/London``, and the file carries
  one VTIMEZONE for it written with yearly RRULEs. We build that VTIMEZONE ourselves
  because icalendar's ``add_missing_timezones()`` writes an RDATE list per transition,
  which ical.js (Thunderbird) and Outlook misread;
- the bytes depend only on the input (events sorted by start then UID, DTSTAMP given by
  the caller), so a feed's ETag stays the same until something really changes.

Also here: UIDs (:func:`invite_uid`), the Flask response for feeds (:func:`feed_response`:
strong ETag, Last-Modified, 304s) and the mail parts for invites (:func:`attach_invite`).
"""

from __future__ import annotations

import email.policy
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, MIMEPart
from typing import Final
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import Response, request
from icalendar import (
    Calendar,
    Event,
    Timezone,
    TimezoneDaylight,
    TimezoneStandard,
    vCalAddress,
    vDuration,
    vRecur,
    vText,
)

__all__ = [
    "LONDON",
    "LONDON_TZID",
    "PRODID",
    "Attendee",
    "CalendarItem",
    "attach_invite",
    "build_calendar",
    "calendar_mime_part",
    "domain_from_url",
    "feed_response",
    "invite_uid",
    "london_vtimezone",
]

LONDON_TZID: Final = "Europe/London"
LONDON: Final = ZoneInfo(LONDON_TZID)
PRODID: Final = "-//eyhub//eyhub//EN"

METHODS: Final = frozenset({"PUBLISH", "REQUEST", "CANCEL"})
STATUSES: Final = frozenset({"CONFIRMED", "CANCELLED", "TENTATIVE"})

#: How long calendar apps may keep a feed before asking again (``Cache-Control``).
FEED_MAX_AGE: Final = 300


@dataclass(frozen=True)
class Attendee:
    """A person invited; written with PARTSTAT=NEEDS-ACTION and RSVP=TRUE so clients ask."""

    email: str
    name: str | None = None


@dataclass(frozen=True)
class CalendarItem:
    """One VEVENT. Times must be timezone-aware; they are written in London local time.

    ``dtstamp`` is the caller's choice on purpose: invites use the time the message was
    made, feeds the item's last change, so a feed's bytes only change with its content.
    ``extra`` holds ``X-`` properties (written as TEXT).
    """

    uid: str
    summary: str
    starts_at: datetime
    ends_at: datetime
    dtstamp: datetime
    description: str | None = None
    location: str | None = None
    url: str | None = None
    sequence: int = 0
    status: str = "CONFIRMED"
    last_modified: datetime | None = None
    organizer_email: str | None = None
    organizer_name: str | None = None
    attendees: Sequence[Attendee] = ()
    categories: Sequence[str] = ()
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Fail where the item is made, not in a mail client months later.
        for name in ("starts_at", "ends_at", "dtstamp", "last_modified"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"CalendarItem.{name} must be timezone-aware")
        if self.ends_at < self.starts_at:
            raise ValueError("CalendarItem.ends_at is before starts_at")
        if self.status not in STATUSES:
            raise ValueError(f"CalendarItem.status must be one of {sorted(STATUSES)}")
        if self.sequence < 0:
            raise ValueError("CalendarItem.sequence must be >= 0")
        if not self.uid:
            raise ValueError("CalendarItem.uid is required")
        for key in self.extra:
            if not key.upper().startswith("X-"):
                raise ValueError(f"extra property {key!r} must start with X-")


def invite_uid(kind: str, id: object, domain: str) -> str:
    """The one UID an item keeps for life (``booking-<id>@<domain>``): updates and
    cancellations must reuse it or clients add a second event instead of changing it."""
    return f"{kind}-{id}@{domain}"


def domain_from_url(public_url: str) -> str:
    """The host part of the public URL (``https://eyhub.example.org`` → ``eyhub.example.org``),
    used as the right-hand side of UIDs so they are unique to this deployment."""
    host = urlsplit(public_url).hostname
    if not host:
        raise ValueError(f"no host in URL {public_url!r}")
    return host


def london_vtimezone() -> Timezone:
    """Europe/London as two RRULE observances (GMT/BST, last Sunday of October/March).

    Clients apply these rules to any year, unlike the RDATE-per-transition form that
    icalendar generates from tzdata.
    """
    standard = TimezoneStandard()
    standard.add("dtstart", datetime(1970, 10, 25, 2, 0, 0))
    standard.add("tzoffsetfrom", timedelta(hours=1))
    standard.add("tzoffsetto", timedelta(0))
    standard.add("tzname", "GMT")
    standard.add("rrule", vRecur(freq="YEARLY", bymonth=10, byday="-1SU"))

    daylight = TimezoneDaylight()
    daylight.add("dtstart", datetime(1970, 3, 29, 1, 0, 0))
    daylight.add("tzoffsetfrom", timedelta(0))
    daylight.add("tzoffsetto", timedelta(hours=1))
    daylight.add("tzname", "BST")
    daylight.add("rrule", vRecur(freq="YEARLY", bymonth=3, byday="-1SU"))

    tz = Timezone()
    tz.add("tzid", LONDON_TZID)
    tz.add_component(standard)
    tz.add_component(daylight)
    return tz


def _address(email_addr: str, name: str | None, **params: str) -> vCalAddress:
    # A bare mailto: URI; the display name goes in CN, never in the value.
    address = vCalAddress(f"mailto:{email_addr.strip()}")
    if name:
        address.params["CN"] = name
    for key, value in params.items():
        address.params[key] = value
    return address


def _london(value: datetime) -> datetime:
    # zoneinfo's key is what icalendar writes as TZID; it must match the VTIMEZONE's TZID.
    # (A time in the repeated hour of October loses its fold: RFC 5545 then means the first
    # occurrence. Sessions do not start at 01:30 at night.)
    return value.astimezone(LONDON)


def _event(item: CalendarItem) -> Event:
    ev = Event()
    ev.add("uid", item.uid)
    ev.add("dtstamp", item.dtstamp)  # icalendar converts DTSTAMP/LAST-MODIFIED to UTC
    ev.add("dtstart", _london(item.starts_at), parameters={"TZID": LONDON_TZID})
    ev.add("dtend", _london(item.ends_at), parameters={"TZID": LONDON_TZID})
    ev.add("sequence", item.sequence)
    ev.add("status", item.status)
    ev.add("summary", item.summary)
    if item.description:
        ev.add("description", item.description)
    if item.location:
        ev.add("location", item.location)
    if item.url:
        ev.add("url", item.url)
    if item.last_modified is not None:
        ev.add("last-modified", item.last_modified)
    if item.organizer_email:
        ev.add("organizer", _address(item.organizer_email, item.organizer_name))
    for person in item.attendees:
        ev.add(
            "attendee",
            _address(
                person.email,
                person.name,
                PARTSTAT="NEEDS-ACTION",
                RSVP="TRUE",
                ROLE="REQ-PARTICIPANT",
            ),
        )
    if item.categories:
        ev.add("categories", list(item.categories))
    for key, value in item.extra.items():
        # icalendar 7 writes unknown X- properties raw (vUnknown); vText escapes , ; \ and
        # newlines so a value cannot break the line into extra properties.
        ev.add(key.upper(), vText(value))
    return ev


def build_calendar(
    items: Iterable[CalendarItem],
    *,
    method: str,
    name: str | None = None,
    refresh_interval: timedelta | None = None,
    prodid: str = PRODID,
) -> bytes:
    """The VCALENDAR for ``items`` as bytes (CRLF, folded at 75 octets).

    ``method`` is PUBLISH for feeds, REQUEST or CANCEL for invites. The VTIMEZONE is
    always written (an empty feed is still a valid calendar with one component). Events
    are sorted by start then UID and nothing depends on the clock, so equal input gives
    equal bytes. Invites (REQUEST/CANCEL) need an ORGANIZER and an ATTENDEE, and a CANCEL
    only cancelled items, or clients drop or misfile them.
    """
    method = method.upper()
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}")
    events = sorted(items, key=lambda i: (i.starts_at.astimezone(UTC), i.uid))
    if method in ("REQUEST", "CANCEL"):
        for item in events:
            if not item.organizer_email or not item.attendees:
                raise ValueError(f"{method} item {item.uid} needs an organizer and an attendee")
            if method == "CANCEL" and item.status != "CANCELLED":
                raise ValueError(f"CANCEL item {item.uid} must have status CANCELLED")

    # Calendar() rather than Calendar.new(): new() adds a random UID to the calendar.
    cal = Calendar()
    cal.add("version", "2.0")
    cal.add("prodid", prodid)
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    if name:
        cal.add("name", name)  # RFC 7986
        cal.add("x-wr-calname", vText(name))  # what Apple, Google and Outlook read
    if refresh_interval is not None:
        cal.add("refresh-interval", refresh_interval, parameters={"VALUE": "DURATION"})
        cal.add("x-published-ttl", vDuration(refresh_interval))  # Outlook's older spelling
    cal.add_component(london_vtimezone())
    for item in events:
        cal.add_component(_event(item))
    return cal.to_ical()


def feed_response(body: bytes, last_modified: datetime, *, filename: str) -> Response:
    """A feed response that calendar apps can revalidate cheaply.

    The ETag is a hash of the bytes (strong: equal bytes, equal tag), which is sound only
    because :func:`build_calendar` is deterministic. Werkzeug answers 304 when
    If-None-Match matches, or, without If-None-Match, when If-Modified-Since is not older
    than ``last_modified`` (RFC 9110 §13.2.2). ``private``: feed URLs carry a secret token.
    Must be called inside a request.
    """
    if last_modified.utcoffset() is None:
        raise ValueError("last_modified must be timezone-aware")
    resp = Response(body, status=200)
    resp.headers["Content-Type"] = "text/calendar; charset=utf-8"
    resp.set_etag(hashlib.sha256(body).hexdigest())
    resp.last_modified = last_modified.astimezone(UTC).replace(microsecond=0)
    resp.cache_control.private = True
    resp.cache_control.max_age = FEED_MAX_AGE
    resp.headers.set("Content-Disposition", "inline", filename=filename)
    return resp.make_conditional(request)


def _file_method(ics: bytes) -> str:
    """The calendar's METHOD, read from its header lines (METHOD is a VCALENDAR
    property, so it comes before the first component): parsing a whole invite again
    just to read it cost milliseconds on every booking."""
    for raw in ics.split(b"\n"):
        line = raw.rstrip(b"\r")
        name, _, value = line.partition(b":")
        key = name.split(b";", 1)[0].upper()
        if key == b"METHOD" and value:
            return value.decode("ascii", "replace").strip().upper()
        if key == b"BEGIN" and value.strip().upper() != b"VCALENDAR":
            break
    raise ValueError("calendar has no METHOD")


def calendar_mime_part(ics: bytes, method: str) -> MIMEPart:
    """The ``text/calendar; charset="utf-8"; method=...`` part that makes mail clients show
    Accept/Decline. The MIME method must equal the file's METHOD (RFC 6047), so it is
    checked. Encoded 7bit or quoted-printable (never base64) so the CRLF lines survive."""
    method = method.upper()
    if method != _file_method(ics):
        raise ValueError(f"MIME method {method} differs from the file's METHOD")
    part = MIMEPart(policy=email.policy.SMTP)
    text = ics.decode("utf-8")
    part.set_content(
        text,
        subtype="calendar",
        charset="utf-8",
        cte="7bit" if text.isascii() else "quoted-printable",
        params={"method": method},
    )
    return part


def attach_invite(message: EmailMessage, ics: bytes, *, attachment: bool = True) -> None:
    """Add an invite to a message, the way Gmail and Outlook expect it::

        msg = new_message(settings, to=..., subject=..., text=..., html=...)
        attach_invite(msg, build_calendar([item], method="REQUEST"))
        queue_mail(session, msg)

    giving ``multipart/mixed[multipart/alternative[text/plain, (text/html,) text/calendar;
    method=REQUEST], application/ics invite.ics]``. The alternative part is what clients
    act on; the ``application/ics`` attachment (not text/calendar, so it is not read as a
    second invite) is for clients that only offer attachments. The method comes from the
    file itself, so the two cannot disagree.
    """
    part = calendar_mime_part(ics, _file_method(ics))
    if message.get_content_type() != "multipart/alternative":  # already so with an HTML body
        message.make_alternative()
    message.attach(part)
    if attachment:
        message.add_attachment(ics, maintype="application", subtype="ics", filename="invite.ics")
