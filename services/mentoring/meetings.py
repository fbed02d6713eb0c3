"""Mentoring meetings and the caseload calendar (issue 11): scheduling, rescheduling,
cancelling and logging a meeting, the invites both people get, and the caseload feeds.

Invites follow docs/architecture.md, "Calendars": one UID per meeting for life
(``meeting-<id>@<public host>``), SEQUENCE 0 on the first REQUEST and +1 on every later
update and on the cancellation (``meeting.invite_sequence`` keeps the last one sent),
mailed through the mail outbox in the same transaction as the change. The caseload feed
shows the same UID and SEQUENCE, so a subscribed calendar and an accepted invite are one
event.

Who may do what: the mentor and the mentee of a match (the pair) schedule, reschedule
and cancel its meetings; only the mentor logs one, once it has started. The pair reads
everything; leads of the match's hub (and admins) read the meetings with their minutes
but never the notes or next steps. Anyone else gets a 404 (a hub lead of another hub: a
403), so a practitioner cannot probe for other people's matches.

Each change locks the match's hub (``operations.lock_hub``, as every change of a match
does) before re-reading the match and the meeting, so a meeting is never scheduled on a
match that is closing, and two reschedules never send the same SEQUENCE.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from services.mentoring.meeting_models import (
    CANCELLED,
    IN_PERSON,
    ONLINE,
    SCHEDULED,
    CaseloadFeed,
    Meeting,
)
from services.mentoring.meeting_schemas import check_place, check_times
from services.mentoring.models import (
    ACTIVE,
    MATCH_CLOSED,
    PROPOSED,
    Match,
    MentoringRequest,
    MentorProfile,
)
from services.mentoring.operations import lock_hub
from shared import calendar as shared_calendar
from shared import feeds as shared_feeds
from shared import invites as shared_invites
from shared.auth import Identity
from shared.calendar import LONDON, Attendee, CalendarItem, invite_uid
from shared.config import Settings
from shared.db import Database, utcnow
from shared.events import mentoring as events
from shared.identity import account_state
from shared.mail import MailTemplates, queue_mail
from shared.messaging import publish
from shared.problems import Problem

#: ``services/mentoring/templates/mail/meeting_*``: one ``.txt`` and one ``.html`` per mail.
TEMPLATES = MailTemplates("services.mentoring")

#: Feeds show meetings that ended this long ago onwards (cancelled ones as CANCELLED).
WINDOW_BACK = timedelta(days=90)
FEED_NAME = "eyhub: mentoring"
#: A person has a caseload (and may subscribe to it) with a match in one of these.
CASELOAD_MATCH = (PROPOSED, ACTIVE, MATCH_CLOSED)


# -- problems ------------------------------------------------------------------------------
def _not_found(what: str) -> Problem:
    return Problem(404, "Not found", f"No such {what}.", kind="not-found")


def _forbidden(detail: str) -> Problem:
    return Problem(403, "Forbidden", detail, kind="forbidden")


def _conflict(detail: str) -> Problem:
    return Problem(409, "Conflict", detail, kind="wrong-state")


def _invalid(exc: ValidationError) -> Problem:
    errors = exc.normalized_messages()
    return Problem(
        422,
        "Invalid request",
        "The meeting is not valid.",
        kind="validation",
        errors=errors if isinstance(errors, dict) else {"_schema": errors},
    )


# -- who may see and change what -------------------------------------------------------
def _access(who: Identity, hub_id: uuid.UUID, pair: tuple[str, str], what: str) -> bool:
    """True for the pair, False for a reader who may only see counts (a lead of the
    hub, an admin); anyone else is refused: 403 for a lead of another hub, 404 otherwise
    (never telling a practitioner that someone else's match exists)."""
    if who.user_id in pair:
        return True
    if who.leads_hub(hub_id):
        return False
    if "hub_lead" in who.roles:
        raise _forbidden("You do not lead this hub.")
    raise _not_found(what)


def _pair_only(who: Identity, hub_id: uuid.UUID, pair: tuple[str, str], what: str) -> None:
    if not _access(who, hub_id, pair, what):
        raise _forbidden("Only the mentor or the mentee can arrange their meetings.")


def _match(s: Session, match_id: uuid.UUID) -> Match:
    match = s.get(Match, match_id)
    if match is None:
        raise _not_found("match")
    return match


def _meeting(s: Session, meeting_id: uuid.UUID) -> Meeting:
    meeting = s.get(Meeting, meeting_id)
    if meeting is None:
        raise _not_found("meeting")
    return meeting


def _locked(s: Session, meeting: Meeting) -> tuple[Meeting, Match]:
    """Take the hub's turn, then re-read the meeting and its match."""
    lock_hub(s, meeting.hub_id)
    s.refresh(meeting)
    match = s.get(Match, meeting.match_id, populate_existing=True)
    assert match is not None
    return meeting, match


# -- the people and their invites --------------------------------------------------------
@dataclass(frozen=True)
class Party:
    user_id: str
    name: str
    email: str | None


def _pair(db: Database, s: Session, match: Match, who: Identity) -> tuple[Party, Party]:
    """Mentor and mentee with the names and addresses we know (the profile, the request,
    the caller's own token, the identity replica, in that order)."""
    profile = s.scalar(select(MentorProfile).where(MentorProfile.user_id == match.mentor_id))
    request = s.get(MentoringRequest, match.request_id)

    def person(user_id: str, name: str | None, email: str | None, fallback: str) -> Party:
        if user_id == who.user_id:
            name, email = name or who.name, email or who.email
        if not (name and email):
            state = account_state(db, user_id)
            if state is not None:
                name, email = name or state.name, email or state.email
        return Party(user_id, name or fallback, email or None)

    mentor = person(
        match.mentor_id,
        profile.name if profile else None,
        profile.email if profile else None,
        "your mentor",
    )
    mentee = person(
        match.mentee_id,
        request.mentee_name if request else None,
        request.mentee_email if request else None,
        "your mentee",
    )
    return mentor, mentee


def meeting_uid(settings: Settings, meeting_id: uuid.UUID) -> str:
    return invite_uid("meeting", meeting_id, settings.public_host)


def london_range(starts_at: datetime, ends_at: datetime) -> str:
    start, end = starts_at.astimezone(LONDON), ends_at.astimezone(LONDON)
    return f"{start:%A %d %B %Y, %H:%M} to {end:%H:%M} (UK time)"


def _short(starts_at: datetime) -> str:
    return f"{starts_at.astimezone(LONDON):%a %d %b %Y, %H:%M}"


def _details(mentor_name: str, mentee_name: str, row: Any) -> str:
    """The event's description (``row``: a Meeting or a row with its columns). Never the
    notes: a calendar (and a feed URL) is not the place for them."""
    lines = [f"Mentoring meeting: {mentor_name} (mentor) and {mentee_name}."]
    if row.location:
        lines.append(f"Where: {row.location}")
    if row.online_url:
        lines.append(f"Join online: {row.online_url}")
    return "\n".join(lines)


def invite_item(
    settings: Settings,
    meeting: Meeting,
    mentor: Party,
    mentee: Party,
    *,
    method: str,
    sequence: int,
) -> CalendarItem:
    organizer_email, organizer_name = shared_invites.organizer(settings)
    return CalendarItem(
        uid=meeting_uid(settings, meeting.id),
        summary=f"Mentoring: {mentor.name} and {mentee.name}",
        starts_at=meeting.starts_at,
        ends_at=meeting.ends_at,
        dtstamp=utcnow(),
        description=_details(mentor.name, mentee.name, meeting),
        location=meeting.location or meeting.online_url,
        url=meeting.online_url,
        sequence=sequence,
        status="CANCELLED" if method == "CANCEL" else "CONFIRMED",
        organizer_email=organizer_email,
        organizer_name=organizer_name,
        attendees=[Attendee(p.email, p.name) for p in (mentor, mentee) if p.email],
    )


_SUBJECTS = {
    "meeting_scheduled": "Mentoring meeting: {when}",
    "meeting_rescheduled": "Mentoring meeting moved: {when}",
    "meeting_cancelled": "Mentoring meeting cancelled: {when}",
}


def _send(
    s: Session,
    settings: Settings,
    meeting: Meeting,
    pair: tuple[Party, Party],
    *,
    template: str,
    by: Identity,
) -> None:
    """Mail both people the invite (REQUEST, or CANCEL for ``meeting_cancelled``) with the
    next SEQUENCE, and remember it (also when nobody has an address: the feed shows it)."""
    method = "CANCEL" if template == "meeting_cancelled" else "REQUEST"
    sequence = shared_invites.next_sequence(meeting.invite_sequence)
    meeting.invite_sequence = sequence
    mentor, mentee = pair
    item = invite_item(settings, meeting, mentor, mentee, method=method, sequence=sequence)
    if not item.attendees:
        return
    subject = _SUBJECTS[template].format(when=_short(meeting.starts_at))
    by_name = mentor.name if by.user_id == mentor.user_id else mentee.name
    for person, other in ((mentor, mentee), (mentee, mentor)):
        if not person.email:
            continue
        body = TEMPLATES.render(
            template,
            name=person.name,
            other_name=other.name,
            by_name=by_name,
            by_you=person.user_id == by.user_id,
            when=london_range(meeting.starts_at, meeting.ends_at),
            meeting=meeting,
        )
        msg = shared_invites.invite_message(
            settings, item, method=method, to=person.email, subject=subject, body=body
        )
        queue_mail(s, msg)


# -- views -----------------------------------------------------------------------------
def meeting_view(meeting: Meeting, *, private: bool) -> dict[str, Any]:
    """The API's shape; ``private`` (the pair) adds the notes and next steps."""
    view: dict[str, Any] = {
        "id": meeting.id,
        "match_id": meeting.match_id,
        "hub_id": meeting.hub_id,
        "mentor_id": meeting.mentor_id,
        "mentee_id": meeting.mentee_id,
        "starts_at": meeting.starts_at,
        "ends_at": meeting.ends_at,
        "format": meeting.format,
        "location": meeting.location,
        "online_url": meeting.online_url,
        "status": meeting.status,
        "sequence": meeting.invite_sequence,
        "created_by": meeting.created_by,
        "created_at": meeting.created_at,
        "updated_at": meeting.updated_at,
        "cancelled_at": meeting.cancelled_at,
        "logged": meeting.logged_at is not None,
        "logged_at": meeting.logged_at,
        "minutes": meeting.minutes,
    }
    if private:
        view["notes"] = meeting.notes
        view["next_steps"] = meeting.next_steps
    return view


def meeting_stats(s: Session, match_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """Per match: ``meetings_held`` (meetings logged), ``minutes_logged``,
    ``last_meeting_at`` (start of the latest logged meeting) and ``next_meeting_at``
    (start of the next scheduled one). Two grouped queries whatever the number of
    matches (for the caseload views)."""
    ids = list(dict.fromkeys(match_ids))
    out: dict[uuid.UUID, dict[str, Any]] = {
        i: {
            "meetings_held": 0,
            "minutes_logged": 0,
            "last_meeting_at": None,
            "next_meeting_at": None,
        }
        for i in ids
    }
    if not ids:
        return out
    held = s.execute(
        select(
            Meeting.match_id,
            func.count(),
            func.coalesce(func.sum(Meeting.minutes), 0),
            func.max(Meeting.starts_at),
        )
        .where(
            Meeting.match_id.in_(ids),
            Meeting.logged_at.is_not(None),
            Meeting.status != CANCELLED,
        )
        .group_by(Meeting.match_id)
    )
    for match_id, n, minutes, last in held:
        out[match_id].update(
            meetings_held=int(n), minutes_logged=int(minutes), last_meeting_at=last
        )
    upcoming = s.execute(
        select(Meeting.match_id, func.min(Meeting.starts_at))
        .where(
            Meeting.match_id.in_(ids),
            Meeting.status == SCHEDULED,
            Meeting.logged_at.is_(None),
            Meeting.starts_at > utcnow(),
        )
        .group_by(Meeting.match_id)
    )
    for match_id, first in upcoming:
        out[match_id]["next_meeting_at"] = first
    return out


# -- meetings ------------------------------------------------------------------------------
def _place(format_: str, location: str | None, online_url: str | None) -> dict[str, Any]:
    """The place fields as stored: only the one the format uses."""
    return {
        "format": format_,
        "location": location if format_ == IN_PERSON else None,
        "online_url": online_url if format_ == ONLINE else None,
    }


def schedule(
    db: Database, settings: Settings, who: Identity, match_id: uuid.UUID, data: dict[str, Any]
) -> Meeting:
    """The mentor or mentee of an active match arranges a meeting: both get an invite."""
    with db.transaction() as s:
        match = _match(s, match_id)
        _pair_only(who, match.hub_id, (match.mentor_id, match.mentee_id), "match")
        lock_hub(s, match.hub_id)
        s.refresh(match)
        if match.status != ACTIVE:
            raise _conflict(f"The match is {match.status}, not active.")
        now = utcnow()
        meeting = Meeting(
            match_id=match.id,
            hub_id=match.hub_id,
            mentor_id=match.mentor_id,
            mentee_id=match.mentee_id,
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            **_place(data["format"], data.get("location"), data.get("online_url")),
            status=SCHEDULED,
            created_by=who.user_id,
            created_at=now,
            updated_at=now,
        )
        s.add(meeting)
        s.flush()
        pair = _pair(db, s, match, who)
        _send(s, settings, meeting, pair, template="meeting_scheduled", by=who)
        s.flush()
        return meeting


_CHANGEABLE = ("starts_at", "ends_at", "format", "location", "online_url")


def reschedule(
    db: Database, settings: Settings, who: Identity, meeting_id: uuid.UUID, data: dict[str, Any]
) -> Meeting:
    """Either of the pair moves a meeting (times, format, place): both get the update."""
    with db.transaction() as s:
        meeting = _meeting(s, meeting_id)
        _pair_only(who, meeting.hub_id, (meeting.mentor_id, meeting.mentee_id), "meeting")
        meeting, match = _locked(s, meeting)
        if meeting.status == CANCELLED:
            raise _conflict("The meeting is cancelled.")
        if meeting.logged_at is not None:
            raise _conflict("The meeting took place and is logged.")
        if match.status != ACTIVE:
            raise _conflict(f"The match is {match.status}, not active.")
        merged = {key: data.get(key, getattr(meeting, key)) for key in _CHANGEABLE}
        try:
            check_times(merged["starts_at"], merged["ends_at"])
            check_place(merged["format"], merged["location"], merged["online_url"])
        except ValidationError as exc:
            raise _invalid(exc) from exc
        merged.update(_place(merged["format"], merged["location"], merged["online_url"]))
        if all(getattr(meeting, key) == merged[key] for key in _CHANGEABLE):
            return meeting  # nothing moved: nobody is mailed
        for key in _CHANGEABLE:
            setattr(meeting, key, merged[key])
        meeting.touch()
        pair = _pair(db, s, match, who)
        _send(s, settings, meeting, pair, template="meeting_rescheduled", by=who)
        s.flush()
        return meeting


def cancel(db: Database, settings: Settings, who: Identity, meeting_id: uuid.UUID) -> Meeting:
    """Either of the pair calls a meeting off: both get the cancellation (METHOD:CANCEL)."""
    with db.transaction() as s:
        meeting = _meeting(s, meeting_id)
        _pair_only(who, meeting.hub_id, (meeting.mentor_id, meeting.mentee_id), "meeting")
        meeting, match = _locked(s, meeting)
        if meeting.status == CANCELLED:
            raise _conflict("The meeting is already cancelled.")
        if meeting.logged_at is not None:
            raise _conflict("The meeting took place and is logged.")
        _cancel(s, settings, meeting, _pair(db, s, match, who), who)
        s.flush()
        return meeting


def _cancel(
    s: Session, settings: Settings, meeting: Meeting, pair: tuple[Party, Party], who: Identity
) -> None:
    now = utcnow()
    meeting.status = CANCELLED
    meeting.cancelled_at = now
    meeting.cancelled_by = who.user_id
    meeting.touch()
    _send(s, settings, meeting, pair, template="meeting_cancelled", by=who)


def cancel_upcoming(
    db: Database, s: Session, settings: Settings, who: Identity, match: Match
) -> int:
    """Cancel (with CANCEL invites) the match's meetings still to come; for the
    operation that closes a match, in its transaction and under its hub lock."""
    rows = list(
        s.scalars(
            select(Meeting).where(
                Meeting.match_id == match.id,
                Meeting.status == SCHEDULED,
                Meeting.logged_at.is_(None),
                Meeting.starts_at > utcnow(),
            )
        )
    )
    if rows:
        pair = _pair(db, s, match, who)
        for meeting in rows:
            _cancel(s, settings, meeting, pair, who)
    return len(rows)


def log(db: Database, who: Identity, meeting_id: uuid.UUID, data: dict[str, Any]) -> Meeting:
    """The mentor logs a meeting that has started: its minutes, notes and next steps;
    ``mentoring.meeting.logged`` goes out with it (budget accounts for mentor time)."""
    with db.transaction() as s:
        meeting = _meeting(s, meeting_id)
        _pair_only(who, meeting.hub_id, (meeting.mentor_id, meeting.mentee_id), "meeting")
        if who.user_id != meeting.mentor_id:
            raise _forbidden("Only the mentor logs a meeting.")
        meeting, _match_row = _locked(s, meeting)
        if meeting.status == CANCELLED:
            raise _conflict("The meeting is cancelled.")
        if meeting.logged_at is not None:
            raise _conflict("The meeting is already logged.")
        now = utcnow()
        if now < meeting.starts_at:
            raise _conflict("The meeting has not started yet.")
        meeting.logged_at = now
        meeting.minutes = data["minutes"]
        meeting.notes = data["notes"]
        meeting.next_steps = data.get("next_steps") or ""
        s.flush()
        publish(
            s,
            events.MEETING_LOGGED,
            {
                "match_id": meeting.match_id,
                "hub_id": meeting.hub_id,
                "mentor_id": meeting.mentor_id,
                "minutes": meeting.minutes,
                "occurred_at": meeting.starts_at,
            },
        )
        return meeting


def match_meetings(db: Database, who: Identity, match_id: uuid.UUID) -> dict[str, Any]:
    """A match's meetings with its counts: everything for the pair; for leads of the hub
    and admins the same without notes and next steps."""
    with db.read() as s:
        match = _match(s, match_id)
        private = _access(who, match.hub_id, (match.mentor_id, match.mentee_id), "match")
        rows = s.scalars(
            select(Meeting)
            .where(Meeting.match_id == match.id)
            .order_by(Meeting.starts_at, Meeting.id)
        )
        items = [meeting_view(m, private=private) for m in rows]
        stats = meeting_stats(s, [match.id])[match.id]
    return {"match_id": match.id, **stats, "items": items}


def own_meetings(db: Database, who: Identity, since: datetime | None, limit: int) -> dict[str, Any]:
    """The caller's meetings as mentor or as mentee (notes included: they are the pair),
    ending after ``since`` when given, soonest first: a person's mentoring page in one
    call, however many matches they have."""
    with db.read() as s:
        mine = or_(Meeting.mentor_id == who.user_id, Meeting.mentee_id == who.user_id)
        query = select(Meeting).where(mine)
        if since is not None:
            query = query.where(Meeting.ends_at > since)
        rows = s.scalars(query.order_by(Meeting.starts_at, Meeting.id).limit(limit))
        return {"items": [meeting_view(m, private=True) for m in rows]}


# -- caseload feeds ----------------------------------------------------------------------
def create_feed(db: Database, settings: Settings, who: Identity) -> dict[str, Any]:
    """A new caseload feed for a mentor or mentee with a match; its URL is shown once."""
    with db.transaction() as s:
        has_match = s.scalar(
            select(
                exists().where(
                    or_(Match.mentor_id == who.user_id, Match.mentee_id == who.user_id),
                    Match.status.in_(CASELOAD_MATCH),
                )
            )
        )
        if not has_match:  # a state (no match yet), not a right: 409, not 403
            raise Problem(
                409,
                "Conflict",
                "Only a mentor or a mentee with a match has a caseload calendar.",
                kind="no-caseload",
            )
        token, token_hash = shared_feeds.new_token()
        feed = CaseloadFeed(user_id=who.user_id, token_hash=token_hash, created_at=utcnow())
        s.add(feed)
        s.flush()
        return {**feed_view(feed), "url": shared_feeds.feed_url(settings, "mentoring", token)}


def feed_view(feed: CaseloadFeed) -> dict[str, Any]:
    return {"id": feed.id, "user_id": feed.user_id, "created_at": feed.created_at}


def own_feeds(db: Database, who: Identity) -> dict[str, Any]:
    with db.read() as s:
        rows = s.scalars(
            select(CaseloadFeed)
            .where(CaseloadFeed.user_id == who.user_id, CaseloadFeed.revoked_at.is_(None))
            .order_by(CaseloadFeed.created_at, CaseloadFeed.id)
        )
        return {"items": [feed_view(f) for f in rows]}


def revoke_feed(db: Database, who: Identity, feed_id: uuid.UUID) -> None:
    """The owner or an admin revokes a feed (again: still a success)."""
    with db.transaction() as s:
        shared_feeds.revoke(
            s, CaseloadFeed, feed_id, lambda f: f.user_id == who.user_id or who.is_admin
        )


def owner_still_entitled(db: Database, feed: CaseloadFeed) -> bool:
    """A feed follows its owner: a deactivated owner's feed answers 404."""
    state = account_state(db, feed.user_id)
    return state is None or state.is_active


#: Digest of the code that writes feeds (and the icalendar release): part of every ETag,
#: so a deploy that changes how a feed is written never hides behind an old ETag.
_RENDERER = hashlib.sha256(
    b"".join(
        Path(path).read_bytes()
        for path in (__file__, Path(__file__).with_name("feed_api.py"), shared_calendar.__file__)
    )
    + importlib.metadata.version("icalendar").encode()
).hexdigest()


@dataclass(frozen=True)
class CaseloadView:
    """What a feed shows now and its validators (``etag``: a digest of everything the
    bytes depend on, so equal ETags mean equal bytes)."""

    rows: list[Any]
    etag: str
    last_modified: datetime


def feed_rows(s: Session, settings: Settings, feed: CaseloadFeed) -> CaseloadView:
    """The owner's meetings (as mentor or mentee) that ended within ``WINDOW_BACK`` or
    are to come, with the other person's name: one narrow query, enough both to answer
    a poll 304 and to write the calendar."""
    since = utcnow() - WINDOW_BACK
    user_id = feed.user_id
    rows = list(
        s.execute(
            select(
                Meeting.id,
                Meeting.mentor_id,
                Meeting.mentee_id,
                Meeting.starts_at,
                Meeting.ends_at,
                Meeting.location,
                Meeting.online_url,
                Meeting.status,
                Meeting.invite_sequence,
                Meeting.updated_at,
                MentoringRequest.mentee_name,
                MentorProfile.name.label("mentor_name"),
            )
            .select_from(Meeting)
            .join(Match, Match.id == Meeting.match_id)
            .join(MentoringRequest, MentoringRequest.id == Match.request_id)
            .outerjoin(MentorProfile, MentorProfile.user_id == Meeting.mentor_id)
            .where(
                or_(Meeting.mentor_id == user_id, Meeting.mentee_id == user_id),
                Meeting.ends_at >= since,
            )
            .order_by(Meeting.starts_at, Meeting.id)
        )
    )
    digest = hashlib.sha256(f"{_RENDERER}|{settings.public_host}|{FEED_NAME}|{user_id}".encode())
    latest = feed.created_at
    for row in rows:
        digest.update(repr(tuple(row)).encode())
        latest = max(latest, row.updated_at)
    return CaseloadView(rows, digest.hexdigest(), latest)


def feed_items(
    settings: Settings, user_id: str, rows: Iterable[Any]
) -> list[shared_feeds.FeedItem]:
    items = []
    for row in rows:
        mentor_name = row.mentor_name or "your mentor"
        mentee_name = row.mentee_name or "your mentee"
        title = (
            f"Mentoring: {mentee_name}"
            if row.mentor_id == user_id
            else f"Mentoring with {mentor_name}"
        )
        cancelled = row.status == CANCELLED
        items.append(
            shared_feeds.FeedItem(
                uid=meeting_uid(settings, row.id),
                summary=("Cancelled: " if cancelled else "") + title,
                description=_details(mentor_name, mentee_name, row),
                location=row.location or row.online_url,
                url=row.online_url,
                starts_at=row.starts_at,
                ends_at=row.ends_at,
                status="CANCELLED" if cancelled else "CONFIRMED",
                sequence=row.invite_sequence or 0,
                changed_at=row.updated_at,
            )
        )
    return items
