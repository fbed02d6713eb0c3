"""The catalogue.* events, written to the outbox in the caller's transaction
(docs/architecture.md, "Messages").

An event exists on the bus if and only if the change committed: ``publish`` adds the
outbox row to the same session, and the worker's relay sends it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from services.catalogue.models import CatalogueSession, Event, Hub
from shared.events import catalogue as events
from shared.messaging.outbox import publish


def _iso(value: datetime) -> str:
    return value.isoformat()


def snapshot(row: CatalogueSession) -> dict[str, Any]:
    """The session with its event's fields, in the events' JSON form."""
    from services.catalogue.operations import event_fields

    data = event_fields(row.event)
    data.update(
        event_id=str(data["event_id"]),
        hub_id=str(data["hub_id"]),
        session_id=str(row.id),
        starts_at=_iso(row.starts_at),
        ends_at=_iso(row.ends_at),
        capacity=row.capacity,
        sequence=row.sequence,
        status=row.status,
        venue=row.effective_venue,
    )
    return data


def hub_created(s: Session, hub: Hub) -> None:
    """A hub exists: the gateway accepts its id in users' hub memberships."""
    publish(s, events.HUB_CREATED, {"hub_id": str(hub.id), "name": hub.name, "region": hub.region})


def session_scheduled(s: Session, row: CatalogueSession) -> None:
    """``row`` became bookable (its event was published, or it joined a published event)."""
    publish(s, events.SESSION_SCHEDULED, snapshot(row))


def session_rescheduled(
    s: Session,
    row: CatalogueSession,
    *,
    old_starts_at: datetime,
    old_ends_at: datetime,
    old_capacity: int,
    changes: list[str],
) -> None:
    """``row`` changed times, capacity or venue (its sequence already went up)."""
    data = snapshot(row)
    data.update(
        old_starts_at=_iso(old_starts_at),
        old_ends_at=_iso(old_ends_at),
        old_capacity=old_capacity,
        changes=changes,
    )
    publish(s, events.SESSION_RESCHEDULED, data)


def session_cancelled(s: Session, row: CatalogueSession, *, event_cancelled: bool) -> None:
    """``row`` will not happen; bookings cancels its bookings."""
    assert row.cancelled_at is not None
    publish(
        s,
        events.SESSION_CANCELLED,
        {
            "session_id": str(row.id),
            "event_id": str(row.event_id),
            "hub_id": str(row.hub_id),
            "reason": row.cancel_reason or "",
            "sequence": row.sequence,
            "starts_at": _iso(row.starts_at),
            "cancelled_at": _iso(row.cancelled_at),
            "event_cancelled": event_cancelled,
        },
    )


def event_updated(s: Session, event: Event, changed: list[str]) -> None:
    """The event's own fields changed (all its sessions show them)."""
    from services.catalogue.operations import event_fields

    data = event_fields(event)
    data.update(
        event_id=str(event.id),
        hub_id=str(event.hub_id),
        venue=event.venue,
        capacity=event.capacity,
        changed=changed,
        changed_at=_iso(event.updated_at),
    )
    publish(s, events.EVENT_UPDATED, data)
