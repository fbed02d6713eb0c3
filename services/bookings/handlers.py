"""Bus consumers of the bookings service: the catalogue keeps our session replica current,
the gateway our identity replica (``shared/identity.py``), and the budget answers
requests for hub-funded places.

Each handler runs in one transaction with the inbox insert (applied exactly once);
ordering is by the session's ``sequence`` (stale snapshots are ignored in
``operations.upsert_session``) and by ``changed_at`` for event updates.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from services.bookings import operations as ops
from services.bookings.models import SessionReplica
from services.bookings.snapshots import snapshot_from_catalogue
from shared.events import budget as budget_events
from shared.events import catalogue as catalogue_events
from shared.identity import follow_identity
from shared.messaging import Event, HandlerContext, Registry

#: What the bookings worker consumes; the launcher hands it to the worker and the bus
#: topology is derived from it (one queue per purpose, bound to these types).
handlers = Registry("bookings")
follow_identity(handlers)


@handlers.handles(
    catalogue_events.SESSION_SCHEDULED,
    catalogue_events.SESSION_RESCHEDULED,
    catalogue_events.SESSION_CANCELLED,
    catalogue_events.EVENT_UPDATED,
    queue="catalogue-sessions",
)
def on_catalogue(s: Session, event: Event, ctx: HandlerContext) -> None:
    data = event.data
    if event.type in (catalogue_events.SESSION_SCHEDULED, catalogue_events.SESSION_RESCHEDULED):
        ops.apply_session_snapshot(s, ctx.settings, snapshot_from_catalogue(data))
    elif event.type == catalogue_events.SESSION_CANCELLED:
        _cancelled(s, ctx, data)
    elif event.type == catalogue_events.EVENT_UPDATED:
        changed = set(data.get("changed") or ())
        fields: dict[str, Any] = {
            k: data[k]
            for k in ops.EVENT_FIELDS
            if k in data and (k != "venue" or "venue" in changed)
        }
        fields["status"] = data["event_status"]
        ops.apply_event_updated(
            s, ctx.settings, data["event_id"], fields, changed_at=data.get("changed_at")
        )


def _cancelled(s: Session, ctx: HandlerContext, data: dict[str, Any]) -> None:
    session_id: uuid.UUID = data["session_id"]
    if s.get(SessionReplica, session_id) is None:
        # Cancelled before we ever saw it: keep a tombstone so a late "scheduled"
        # cannot make it bookable (cancellation is final in upsert_session).
        s.add(
            SessionReplica(
                id=session_id,
                event_id=data["event_id"],
                hub_id=data["hub_id"],
                title="",
                topics=[],
                starts_at=data["starts_at"],
                ends_at=data["starts_at"],
                capacity=0,
                status="cancelled",
                event_status="cancelled" if data.get("event_cancelled") else "published",
                sequence=data["sequence"],
                cpd_hours=Decimal(0),
                cancel_reason=data.get("reason") or None,
            )
        )
        s.flush()
        return
    ops.apply_session_cancelled(s, ctx.settings, session_id, reason=data.get("reason") or None)


@handlers.handles(
    budget_events.FUNDING_COMMITTED, budget_events.FUNDING_DECLINED, queue="budget-funding"
)
def on_funding(s: Session, event: Event, ctx: HandlerContext) -> None:
    """The budget's answer to ``bookings.funding.requested`` (the funded-place saga)."""
    data = event.data
    if event.type == budget_events.FUNDING_COMMITTED:
        ops.apply_funding_committed(s, ctx.settings, data["booking_id"])
    else:
        ops.apply_funding_declined(s, ctx.settings, data["booking_id"], detail=data["detail"])
