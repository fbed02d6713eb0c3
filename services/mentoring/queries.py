"""Reads of the mentoring service, and the shapes the API answers with.

Each read opens its read-only unit of work (``Database.read``) and never takes the
write lock. The ``*_view`` functions turn rows into the dicts the response schemas dump.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.mentoring import operations as ops
from services.mentoring.meetings import meeting_stats
from services.mentoring.models import (
    ACTIVE,
    LIVE_MATCH,
    MATCH_CLOSED,
    PROPOSED,
    Match,
    MatchingRun,
    MentoringRequest,
    MentorProfile,
)
from shared.auth import Identity
from shared.db import Database
from shared.pagination import page


# -- views -----------------------------------------------------------------------------
def profile_view(row: MentorProfile, load: int) -> dict[str, Any]:
    return {
        "user_id": row.user_id,
        "name": row.name,
        "hub_id": row.hub_id,
        "specialisms": list(row.specialisms),
        "setting_types": list(row.setting_types),
        "formats": list(row.formats),
        "region": row.region,
        "languages": list(row.languages or ()),
        "capacity": row.capacity,
        "load": load,
        "bio": row.bio,
        "available": row.available,
        "setting_name": row.setting_name,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def match_view(match: Match) -> dict[str, Any]:
    return {
        "id": match.id,
        "run_id": match.run_id,
        "hub_id": match.hub_id,
        "request_id": match.request_id,
        "mentor_id": match.mentor_id,
        "mentee_id": match.mentee_id,
        "score": match.score,
        "breakdown": dict(match.breakdown),
        "status": match.status,
        "proposed_at": match.proposed_at,
        "accepted_at": match.accepted_at,
        "declined_at": match.declined_at,
        "decline_reason": match.decline_reason,
        "closed_at": match.closed_at,
        "outcome": match.outcome,
        "summary": match.summary,
    }


def run_view(run: MatchingRun) -> dict[str, Any]:
    matches = sorted(run.matches, key=lambda m: (-m.score, str(m.request_id)))
    return {
        "id": run.id,
        "hub_id": run.hub_id,
        "run_by": run.run_by,
        "created_at": run.created_at,
        "weights": dict(run.weights),
        "matches": [match_view(m) for m in matches],
        "unmatched": list(run.unmatched),
    }


def _current_match(s: Session, request_id: uuid.UUID) -> dict[str, Any] | None:
    """The request's live match, else the one that closed it (declined ones are history)."""
    match = s.scalar(
        select(Match)
        .where(Match.request_id == request_id, Match.status.in_((*LIVE_MATCH, MATCH_CLOSED)))
        .order_by(Match.proposed_at.desc())
        .limit(1)
    )
    if match is None:
        return None
    mentor = s.scalar(select(MentorProfile.name).where(MentorProfile.user_id == match.mentor_id))
    return {
        "id": match.id,
        "mentor_id": match.mentor_id,
        "mentor_name": mentor or "",
        "status": match.status,
        "score": match.score,
        "proposed_at": match.proposed_at,
        "accepted_at": match.accepted_at,
    }


def request_view(s: Session, row: MentoringRequest) -> dict[str, Any]:
    return {
        "id": row.id,
        "hub_id": row.hub_id,
        "mentee_id": row.mentee_id,
        "mentee_name": row.mentee_name,
        "topics": list(row.topics),
        "goals": row.goals,
        "format": row.format,
        "setting_type": row.setting_type,
        "setting_name": row.setting_name,
        "languages": list(row.languages or ()),
        "region": row.region,
        "status": row.status,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "withdrawn_at": row.withdrawn_at,
        "match": _current_match(s, row.id),
    }


# -- mentors ---------------------------------------------------------------------------
def profile(db: Database, row: MentorProfile) -> dict[str, Any]:
    with db.read() as s:
        return profile_view(row, ops.load_of(s, row.user_id))


def own_profile(db: Database, who: Identity) -> dict[str, Any]:
    with db.read() as s:
        row = s.scalar(select(MentorProfile).where(MentorProfile.user_id == who.user_id))
        if row is None:
            raise ops.not_found("mentor profile (create it with PUT)")
        return profile_view(row, ops.load_of(s, row.user_id))


def mentors_page(db: Database, who: Identity, args: dict[str, Any]) -> dict[str, Any]:
    ops.require_lead(who, args["hub_id"])
    with db.read() as s:
        rows, cursor = page(
            s,
            select(MentorProfile).where(MentorProfile.hub_id == args["hub_id"]),
            key=MentorProfile.created_at,
            ident=MentorProfile.id,
            limit=args["limit"],
            cursor=args.get("cursor"),
        )
        by_mentor = ops.loads(s, [r.user_id for r in rows])
        items = [profile_view(r, sum(by_mentor[r.user_id].values())) for r in rows]
    return {"items": items, "next_cursor": cursor}


# -- requests --------------------------------------------------------------------------
def request(db: Database, who: Identity, request_id: uuid.UUID) -> dict[str, Any]:
    with db.read() as s:
        return request_view(s, ops.visible_request(s, who, request_id))


def request_of(db: Database, row: MentoringRequest) -> dict[str, Any]:
    with db.read() as s:
        return request_view(s, row)


def requests_page(db: Database, who: Identity, args: dict[str, Any]) -> dict[str, Any]:
    """Own requests; with ``hub_id`` all of the hub's for its leads (another hub's lead:
    403); admins see every request."""
    query = select(MentoringRequest)
    hub_id = args.get("hub_id")
    if hub_id is not None:
        query = query.where(MentoringRequest.hub_id == hub_id)
        if not who.leads_hub(hub_id):
            if "hub_lead" in who.roles:
                raise ops.forbidden("You do not lead this hub.")
            query = query.where(MentoringRequest.mentee_id == who.user_id)
    elif not who.is_admin:
        query = query.where(MentoringRequest.mentee_id == who.user_id)
    if args.get("status"):
        query = query.where(MentoringRequest.status == args["status"])
    with db.read() as s:
        rows, cursor = page(
            s,
            query,
            key=MentoringRequest.created_at,
            ident=MentoringRequest.id,
            limit=args["limit"],
            cursor=args.get("cursor"),
        )
        return {"items": [request_view(s, r) for r in rows], "next_cursor": cursor}


# -- runs and matches --------------------------------------------------------------------
def run(db: Database, who: Identity, hub_id: uuid.UUID, run_id: uuid.UUID) -> dict[str, Any]:
    with db.read() as s:
        return run_view(ops.visible_run(s, who, hub_id, run_id))


def match(db: Database, who: Identity, match_id: uuid.UUID) -> dict[str, Any]:
    with db.read() as s:
        return match_view(ops.visible_match(s, who, match_id))


# -- caseloads -------------------------------------------------------------------------
def caseload(db: Database, who: Identity) -> dict[str, Any]:
    """The mentor's proposed and active matches, with their meetings' figures."""
    with db.read() as s:
        own = s.scalar(select(MentorProfile).where(MentorProfile.user_id == who.user_id))
        matches = list(
            s.scalars(
                select(Match)
                .where(Match.mentor_id == who.user_id, Match.status.in_(LIVE_MATCH))
                .order_by(Match.proposed_at, Match.id)
            )
        )
        stats = meeting_stats(s, [m.id for m in matches])
        items = []
        for m in matches:
            r = m.request
            items.append(
                {
                    "match_id": m.id,
                    "request_id": r.id,
                    "hub_id": m.hub_id,
                    "status": m.status,
                    "mentee_id": m.mentee_id,
                    "mentee_name": r.mentee_name,
                    "setting_type": r.setting_type,
                    "setting_name": r.setting_name,
                    "format": r.format,
                    "goals": r.goals,
                    "topics": list(r.topics),
                    "score": m.score,
                    "proposed_at": m.proposed_at,
                    "accepted_at": m.accepted_at,
                    **stats[m.id],
                }
            )
    # Active first, then proposals; each oldest first.
    items.sort(key=lambda i: (i["status"] != ACTIVE, i["proposed_at"], str(i["match_id"])))
    return {"capacity": own.capacity if own else None, "load": len(items), "items": items}


def hub_caseloads(db: Database, who: Identity, hub_id: uuid.UUID) -> dict[str, Any]:
    ops.require_lead(who, hub_id)
    with db.read() as s:
        profiles = list(
            s.scalars(
                select(MentorProfile)
                .where(MentorProfile.hub_id == hub_id)
                .order_by(MentorProfile.name, MentorProfile.user_id)
            )
        )
        by_mentor = ops.loads(s, [p.user_id for p in profiles])
    return {
        "hub_id": hub_id,
        "mentors": [
            {
                "user_id": p.user_id,
                "name": p.name,
                "load": by_mentor[p.user_id][ACTIVE] + by_mentor[p.user_id][PROPOSED],
                "active": by_mentor[p.user_id][ACTIVE],
                "proposed": by_mentor[p.user_id][PROPOSED],
                "capacity": p.capacity,
                "available": p.available,
            }
            for p in profiles
        ],
    }
