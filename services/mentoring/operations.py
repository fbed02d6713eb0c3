"""Every state change of the mentoring service (the API and, later, bus handlers call these).

Each operation is one transaction: the rows, the events (outbox) and the mails (mail
outbox) commit together or not at all.

Concurrency rule: every change to a hub's requests or matches first locks that hub's
``hub_locks`` row (``lock_hub``: ``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite every
write transaction already holds the write lock from ``BEGIN IMMEDIATE``), then re-reads
what it changes. So two matching runs on one hub take turns, and a run never sees a
request half-way through a withdrawal. The partial unique indexes (one live request per
practitioner and hub, one live match per request) back the rules whatever happens.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.mentoring import notify, publishing
from services.mentoring.matching import Mentor, Request, Weights, solve
from services.mentoring.models import (
    ACTIVE,
    CLOSED,
    DECLINED,
    LIVE_MATCH,
    LIVE_REQUEST,
    MATCH_CLOSED,
    MATCH_WITHDRAWN,
    MATCHED,
    OPEN,
    PROPOSED,
    WITHDRAWN,
    HubLock,
    Match,
    MatchingRun,
    MentoringRequest,
    MentorProfile,
)
from shared.auth import Identity
from shared.config import Settings
from shared.db import Database, utcnow
from shared.identity import account_state
from shared.problems import Problem


# -- problems ------------------------------------------------------------------------
def not_found(what: str) -> Problem:
    return Problem(404, "Not found", f"No such {what}.", kind="not-found")


def forbidden(detail: str) -> Problem:
    return Problem(403, "Forbidden", detail, kind="forbidden")


def conflict(detail: str, kind: str = "conflict") -> Problem:
    return Problem(409, "Conflict", detail, kind=kind)


def invalid(field: str, message: str) -> Problem:
    return Problem(422, "Invalid request", message, kind="validation", errors={field: [message]})


def require_lead(who: Identity, hub_id: uuid.UUID | str) -> None:
    if not who.leads_hub(hub_id):
        raise forbidden("You do not lead this hub.")


# -- the hub lock ----------------------------------------------------------------------
def lock_hub(s: Session, hub_id: uuid.UUID) -> None:
    """Take the hub's turn for the rest of the transaction (creating its row once)."""
    dialect = s.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    s.execute(insert(HubLock).values(hub_id=hub_id).on_conflict_do_nothing())
    s.execute(select(HubLock.hub_id).where(HubLock.hub_id == hub_id).with_for_update())


# -- loads -----------------------------------------------------------------------------
def loads(s: Session, mentor_ids: Iterable[str]) -> dict[str, dict[str, int]]:
    """Proposed and active matches per mentor: ``{mentor_id: {status: n}}``."""
    ids = list(mentor_ids)
    out: dict[str, dict[str, int]] = {m: {PROPOSED: 0, ACTIVE: 0} for m in ids}
    if not ids:
        return out
    rows = s.execute(
        select(Match.mentor_id, Match.status, func.count())
        .where(Match.mentor_id.in_(ids), Match.status.in_(LIVE_MATCH))
        .group_by(Match.mentor_id, Match.status)
    ).all()
    for mentor_id, status, n in rows:
        out[mentor_id][status] = int(n)
    return out


def load_of(s: Session, mentor_id: str) -> int:
    return sum(loads(s, [mentor_id])[mentor_id].values())


# -- mentor profiles ---------------------------------------------------------------------
_PROFILE_FIELDS = (
    "hub_id",
    "specialisms",
    "setting_types",
    "formats",
    "region",
    "languages",
    "capacity",
    "bio",
    "available",
    "setting_name",
)


@dataclass(frozen=True)
class Person:
    """Who a profile belongs to, as far as we know: name and address for mail."""

    user_id: str
    name: str | None
    email: str | None


def _is_mentor(db: Database, user_id: str) -> bool | None:
    """What the identity replica says (None: it does not know the account)."""
    state = account_state(db, user_id)
    if state is None:
        return None
    return state.is_active and "mentor" in state.roles


def _replica_person(db: Database, user_id: str) -> Person:
    state = account_state(db, user_id)
    return Person(
        user_id,
        getattr(state, "name", None) if state else None,
        getattr(state, "email", None) if state else None,
    )


def save_profile(s: Session, person: Person, data: dict[str, Any]) -> MentorProfile:
    """Create or replace a mentor's profile (no checks: the callers make them)."""
    row = s.scalar(
        select(MentorProfile).where(MentorProfile.user_id == person.user_id).with_for_update()
    )
    now = utcnow()
    if row is None:
        row = MentorProfile(user_id=person.user_id, created_at=now, name="", email="")
        s.add(row)
    for key in _PROFILE_FIELDS:
        setattr(row, key, data[key])
    row.specialisms = sorted(data["specialisms"])
    row.setting_types = sorted(data["setting_types"])
    row.formats = sorted(data["formats"])
    row.languages = list(data.get("languages") or [])
    if person.name:
        row.name = person.name
    if person.email:
        row.email = person.email
    row.updated_at = now
    s.flush()
    return row


def put_own_profile(db: Database, who: Identity, data: dict[str, Any]) -> MentorProfile:
    """A mentor writes their own profile, in a hub they belong to."""
    if not who.is_admin and str(data["hub_id"]) not in who.hub_ids:
        raise forbidden("You are not a mentor of this hub.")
    with db.transaction() as s:
        return save_profile(s, Person(who.user_id, who.name, who.email), data)


def put_profile_for(
    db: Database, who: Identity, user_id: uuid.UUID, data: dict[str, Any]
) -> MentorProfile:
    """A hub lead (of the profile's hub, old and new) or an admin writes a mentor's profile."""
    require_lead(who, data["hub_id"])
    target = str(user_id)
    if _is_mentor(db, target) is False:
        raise invalid("user_id", "This account is not an active mentor.")
    person = _replica_person(db, target)
    if target == who.user_id:
        person = Person(target, who.name, who.email)
    with db.transaction() as s:
        existing = s.scalar(select(MentorProfile).where(MentorProfile.user_id == target))
        if existing is not None and not who.leads_hub(existing.hub_id):
            raise forbidden("This mentor belongs to a hub you do not lead.")
        return save_profile(s, person, data)


# -- requests --------------------------------------------------------------------------
def create_request(db: Database, who: Identity, data: dict[str, Any]) -> MentoringRequest:
    """A practitioner asks a hub for a mentor: one live request per practitioner and hub."""
    hub_id = data["hub_id"]
    try:
        with db.transaction() as s:
            lock_hub(s, hub_id)
            live = s.scalar(
                select(MentoringRequest.id).where(
                    MentoringRequest.mentee_id == who.user_id,
                    MentoringRequest.hub_id == hub_id,
                    MentoringRequest.status.in_(LIVE_REQUEST),
                )
            )
            if live is not None:
                raise _already_asked()
            now = utcnow()
            row = MentoringRequest(
                hub_id=hub_id,
                mentee_id=who.user_id,
                mentee_name=who.name,
                mentee_email=who.email,
                topics=sorted(data["topics"]),
                goals=data["goals"],
                format=data["format"],
                setting_type=data["setting_type"],
                setting_name=data["setting_name"],
                languages=list(data.get("languages") or []),
                region=data.get("region"),
                status=OPEN,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            return row
    except IntegrityError as exc:  # a concurrent request got there first
        raise _already_asked() from exc


def _already_asked() -> Problem:
    return conflict(
        "You already have an open mentoring request at this hub.", kind="request-exists"
    )


def can_see_request(who: Identity, row: MentoringRequest) -> bool:
    return row.mentee_id == who.user_id or who.leads_hub(row.hub_id)


def visible_request(s: Session, who: Identity, request_id: uuid.UUID) -> MentoringRequest:
    """The request, if ``who`` may see it: its owner, the hub's leads, admins, and the
    mentor of its live or closed match (who needs its goals to decide, and keeps the
    record of a mentoring they did); else 404."""
    row = s.get(MentoringRequest, request_id)
    if row is not None and not can_see_request(who, row) and "mentor" in who.roles:
        theirs = select(Match.id).where(
            Match.request_id == row.id,
            Match.mentor_id == who.user_id,
            Match.status.in_((*LIVE_MATCH, MATCH_CLOSED)),
        )
        if s.scalar(theirs.limit(1)) is not None:
            return row
    if row is None or not can_see_request(who, row):
        raise not_found("mentoring request")
    return row


def _live_match(s: Session, request_id: uuid.UUID) -> Match | None:
    return s.scalar(
        select(Match).where(Match.request_id == request_id, Match.status.in_(LIVE_MATCH))
    )


def withdraw_request(db: Database, who: Identity, request_id: uuid.UUID) -> MentoringRequest:
    """The owner withdraws an open request, or one whose match is only proposed."""
    with db.transaction() as s:
        row = visible_request(s, who, request_id)
        if row.mentee_id != who.user_id:
            raise forbidden("Only the practitioner who asked can withdraw a request.")
        lock_hub(s, row.hub_id)
        s.refresh(row)
        if row.status not in LIVE_REQUEST:
            raise conflict(f"The request is {row.status}.", kind="wrong-state")
        match = _live_match(s, row.id)
        if match is not None:
            if match.status == ACTIVE:
                raise conflict(
                    "The mentoring is under way: ask your mentor or the hub to close it.",
                    kind="wrong-state",
                )
            match.status = MATCH_WITHDRAWN
            match.touch()
        now = utcnow()
        row.status = WITHDRAWN
        row.withdrawn_at = now
        row.updated_at = now
        s.flush()
        return row


# -- matching runs -----------------------------------------------------------------------
def weights(settings: Settings) -> Weights:
    return Weights(
        topic=settings.match_weight_topic,
        setting_type=settings.match_weight_setting_type,
        language=settings.match_weight_language,
        region=settings.match_weight_region,
        load_balance=settings.match_weight_load_balance,
    )


def _as_request(row: MentoringRequest) -> Request:
    return Request(
        id=str(row.id),
        mentee_id=row.mentee_id,
        topics=frozenset(row.topics),
        setting_type=row.setting_type,
        format=row.format,
        setting_name=row.setting_name,
        languages=frozenset(row.languages or ()),
        region=row.region,
    )


def _as_mentor(row: MentorProfile, load: int, still_mentor: bool) -> Mentor:
    return Mentor(
        id=row.user_id,
        specialisms=frozenset(row.specialisms),
        setting_types=frozenset(row.setting_types),
        formats=frozenset(row.formats),
        region=row.region,
        languages=frozenset(row.languages or ()),
        setting_name=row.setting_name,
        capacity=row.capacity,
        load=load,
        available=row.available and still_mentor,
    )


def run_matching(db: Database, settings: Settings, who: Identity, hub_id: uuid.UUID) -> MatchingRun:
    """Propose mentors for every open request of the hub (``matching.solve``) and store
    the run; matched requests leave ``open``. Existing proposed and active matches stay
    as they are and count in their mentors' load."""
    require_lead(who, hub_id)
    with db.read() as s:
        mentor_ids = list(
            s.scalars(select(MentorProfile.user_id).where(MentorProfile.hub_id == hub_id))
        )
    # An account deactivated, or no longer a mentor, gets no new mentees.
    still = {m: _is_mentor(db, m) is not False for m in mentor_ids}
    w = weights(settings)
    with db.transaction() as s:
        lock_hub(s, hub_id)
        requests = list(
            s.scalars(
                select(MentoringRequest)
                .where(MentoringRequest.hub_id == hub_id, MentoringRequest.status == OPEN)
                .order_by(MentoringRequest.created_at, MentoringRequest.id)
                .execution_options(populate_existing=True)
            )
        )
        profiles = list(
            s.scalars(
                select(MentorProfile)
                .where(MentorProfile.hub_id == hub_id)
                .order_by(MentorProfile.user_id)
            )
        )
        now = utcnow()
        run = MatchingRun(
            hub_id=hub_id,
            run_by=who.user_id,
            weights={
                "topic": w.topic,
                "setting_type": w.setting_type,
                "language": w.language,
                "region": w.region,
                "load_balance": w.load_balance,
            },
            unmatched=[],
            created_at=now,
            matches=[],
        )
        s.add(run)
        s.flush()
        if not requests:
            return run
        by_mentor = loads(s, [p.user_id for p in profiles])
        mentors = [
            _as_mentor(p, sum(by_mentor[p.user_id].values()), still.get(p.user_id, True))
            for p in profiles
        ]
        excluded = _declined_pairs(s, {r.mentee_id for r in requests})
        result = solve([_as_request(r) for r in requests], mentors, excluded=excluded, weights=w)
        by_id = {str(r.id): r for r in requests}
        profile_of = {p.user_id: p for p in profiles}
        for proposal in result.proposals:
            request = by_id[proposal.request_id]
            match = Match(
                run_id=run.id,
                request_id=request.id,
                hub_id=hub_id,
                mentor_id=proposal.mentor_id,
                mentee_id=request.mentee_id,
                score=proposal.score,
                breakdown=dict(proposal.breakdown),
                status=PROPOSED,
                proposed_at=now,
                updated_at=now,
            )
            match.request = request
            s.add(match)
            request.status = MATCHED
            request.updated_at = now
            s.flush()
            mentor = profile_of[proposal.mentor_id]
            publishing.match_proposed(s, match)
            notify.proposed(s, settings, match, mentor)
        run.unmatched = [{"request_id": u.request_id, "reason": u.reason} for u in result.unmatched]
        s.flush()
        s.refresh(run, ["matches"])
        return run


def _declined_pairs(s: Session, mentee_ids: set[str]) -> frozenset[tuple[str, str]]:
    if not mentee_ids:
        return frozenset()
    rows = s.execute(
        select(Match.mentee_id, Match.mentor_id).where(
            Match.mentee_id.in_(sorted(mentee_ids)), Match.status == DECLINED
        )
    ).all()
    return frozenset((a, b) for a, b in rows)


def visible_run(s: Session, who: Identity, hub_id: uuid.UUID, run_id: uuid.UUID) -> MatchingRun:
    require_lead(who, hub_id)
    run = s.get(MatchingRun, run_id)
    if run is None or run.hub_id != hub_id:
        raise not_found("matching run")
    return run


# -- matches -----------------------------------------------------------------------------
def can_see_match(who: Identity, match: Match) -> bool:
    return who.user_id in (match.mentor_id, match.mentee_id) or who.leads_hub(match.hub_id)


def visible_match(s: Session, who: Identity, match_id: uuid.UUID) -> Match:
    match = s.get(Match, match_id)
    if match is None or not can_see_match(who, match):
        raise not_found("match")
    return match


def _locked_match(s: Session, who: Identity, match_id: uuid.UUID) -> Match:
    match = visible_match(s, who, match_id)
    lock_hub(s, match.hub_id)
    s.refresh(match)
    s.refresh(match.request)
    return match


def _profile(s: Session, mentor_id: str) -> MentorProfile | None:
    return s.scalar(select(MentorProfile).where(MentorProfile.user_id == mentor_id))


def accept_match(db: Database, settings: Settings, who: Identity, match_id: uuid.UUID) -> Match:
    """The proposed mentor accepts: the mentoring is active."""
    with db.transaction() as s:
        match = _locked_match(s, who, match_id)
        if match.mentor_id != who.user_id:
            raise forbidden("Only the proposed mentor can accept.")
        if match.status != PROPOSED:
            raise conflict(f"The match is {match.status}, not proposed.", kind="wrong-state")
        now = utcnow()
        match.status = ACTIVE
        match.accepted_at = now
        match.touch()
        s.flush()
        publishing.match_accepted(s, match)
        notify.accepted(s, settings, match, _profile(s, match.mentor_id))
        return match


def _mentor_or_lead(who: Identity, match: Match, action: str) -> None:
    if match.mentor_id != who.user_id and not who.leads_hub(match.hub_id):
        raise forbidden(f"Only the mentor or a lead of the hub can {action} a match.")


def decline_match(db: Database, who: Identity, match_id: uuid.UUID, *, reason: str | None) -> Match:
    """The mentor (or a hub lead) declines a proposal: the request is open again and this
    mentee and mentor are never proposed to each other again."""
    with db.transaction() as s:
        match = _locked_match(s, who, match_id)
        _mentor_or_lead(who, match, "decline")
        if match.status != PROPOSED:
            raise conflict(f"The match is {match.status}, not proposed.", kind="wrong-state")
        now = utcnow()
        match.status = DECLINED
        match.declined_at = now
        match.declined_by = who.user_id
        match.decline_reason = reason
        match.touch()
        request = match.request
        if request.status == MATCHED:
            request.status = OPEN
            request.updated_at = now
        s.flush()
        return match


def close_match(
    db: Database,
    settings: Settings,
    who: Identity,
    match_id: uuid.UUID,
    *,
    outcome: str,
    summary: str,
) -> Match:
    """The mentor (or a hub lead) ends an active mentoring with its outcome; meetings
    still to come are cancelled (CANCEL invites to both)."""
    from services.mentoring import meetings  # meetings imports this module's lock_hub

    with db.transaction() as s:
        match = _locked_match(s, who, match_id)
        _mentor_or_lead(who, match, "close")
        if match.status != ACTIVE:
            raise conflict(f"The match is {match.status}, not active.", kind="wrong-state")
        now = utcnow()
        match.status = MATCH_CLOSED
        match.closed_at = now
        match.closed_by = who.user_id
        match.outcome = outcome
        match.summary = summary
        match.touch()
        meetings.cancel_upcoming(db, s, settings, who, match)
        request = match.request
        request.status = CLOSED
        request.updated_at = now
        s.flush()
        publishing.match_closed(s, match)
        return match
