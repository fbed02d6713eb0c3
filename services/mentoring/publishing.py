"""The mentoring.* events, written to the outbox in the caller's transaction
(docs/architecture.md, "Messages"): an event exists if and only if the change committed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from services.mentoring.models import Match
from shared.db import utcnow
from shared.events import mentoring as events
from shared.messaging.outbox import publish


def _ref(match: Match) -> dict[str, Any]:
    return {
        "match_id": match.id,
        "hub_id": match.hub_id,
        "request_id": match.request_id,
        "mentor_id": match.mentor_id,
        "mentee_id": match.mentee_id,
        "score": match.score,
    }


def proposed_data(match: Match) -> dict[str, Any]:
    request = match.request
    return {
        **_ref(match),
        "run_id": match.run_id,
        "breakdown": dict(match.breakdown),
        "topics": list(request.topics),
        "format": request.format,
        "setting_type": request.setting_type,
        "proposed_at": match.proposed_at,
    }


def accepted_data(match: Match) -> dict[str, Any]:
    request = match.request
    return {
        **_ref(match),
        "topics": list(request.topics),
        "format": request.format,
        "setting_type": request.setting_type,
        "accepted_at": match.accepted_at or utcnow(),
    }


def closed_data(match: Match) -> dict[str, Any]:
    return {
        **_ref(match),
        "outcome": match.outcome,
        "closed_by": match.closed_by or "",
        "accepted_at": match.accepted_at,
        "closed_at": match.closed_at or utcnow(),
    }


def _publish(s: Session, event_type: str, data: dict[str, Any]) -> None:
    _emit(s, event_type, events.SCHEMAS[event_type]().dump(data))


def _emit(s: Session, event_type: str, payload: dict[str, Any]) -> None:
    """Hand the event to the outbox, in the caller's transaction."""
    publish(s, event_type, payload)


def match_proposed(s: Session, match: Match) -> None:
    _publish(s, events.MATCH_PROPOSED, proposed_data(match))


def match_accepted(s: Session, match: Match) -> None:
    _publish(s, events.MATCH_ACCEPTED, accepted_data(match))


def match_closed(s: Session, match: Match) -> None:
    _publish(s, events.MATCH_CLOSED, closed_data(match))
