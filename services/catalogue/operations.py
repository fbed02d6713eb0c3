"""Every state change and read of the catalogue: what the API (and the demo) call.

The public functions own their unit of work: a change opens one transaction in which
the change, its audit entry and its ``catalogue.*`` outbox rows commit together or
not at all; a read opens a read-only one. They answer documents, not live rows. The
``_``-prefixed steps run inside a caller's transaction. Sessions of a draft event are
not bookable, so their changes publish nothing; publishing the event announces every
scheduled session at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, contains_eager

from services.catalogue import publishing
from services.catalogue.models import (
    CANCELLED,
    DRAFT,
    PUBLISHED,
    SCHEDULED,
    AuditEntry,
    CatalogueSession,
    Event,
    Hub,
)
from services.catalogue.recurrence import RecurrenceError, expand, local_duration, shift_end
from services.catalogue.schemas import MAX_SESSION
from shared.auth import Identity
from shared.db import Database, new_id, utcnow
from shared.pagination import page
from shared.problems import Problem

EVENT_FIELDS = (
    "title",
    "kind",
    "summary",
    "description",
    "format",
    "audience",
    "topics",
    "cpd_hours",
    "price_pence",
    "funded_places",
    "cost_per_funded_place_pence",
    "funding_line",
    "funded_setting_types",
    "refund_days_before",
    "capacity",
    "venue",
    "online_url",
)


# -- errors -------------------------------------------------------------------------
def not_found(what: str) -> Problem:
    return Problem(404, "Not found", f"No such {what}.", kind="not-found")


def conflict(detail: str) -> Problem:
    return Problem(409, "Conflict", detail, kind="conflict")


def invalid(field: str, message: str) -> Problem:
    return Problem(
        422,
        "Invalid request",
        "Some fields are missing or invalid; see errors.",
        kind="validation",
        errors={field: [message]},
    )


def require_lead(who: Identity, hub_id: uuid.UUID | str) -> None:
    """Hub leads of ``hub_id`` and admins pass; anyone else is refused (403).

    Checked against ``who`` rather than the request, so jobs and the demo seed can act.
    """
    if not who.leads_hub(hub_id):
        raise Problem(403, "Forbidden", "Only a lead of this hub may do this.", kind="forbidden")


# -- audit --------------------------------------------------------------------------
def audit(
    s: Session,
    who: Identity,
    event: Event,
    action: str,
    *,
    session: CatalogueSession | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    s.add(
        AuditEntry(
            id=new_id(),
            event_id=event.id,
            session_id=session.id if session is not None else None,
            hub_id=event.hub_id,
            action=action,
            actor_id=who.user_id,
            actor_name=who.name or who.email,
            at=utcnow(),
            details=dict(details or {}),
        )
    )


def _history(s: Session, who: Identity, event_id: uuid.UUID) -> list[AuditEntry]:
    event = _event(s, event_id)
    if event.status == DRAFT and not who.leads_hub(event.hub_id):
        raise not_found("event")  # a draft's existence is not disclosed
    require_lead(who, event.hub_id)
    return list(
        s.scalars(
            select(AuditEntry)
            .where(AuditEntry.event_id == event_id)
            .order_by(AuditEntry.at, AuditEntry.id)
        )
    )


# -- hubs ---------------------------------------------------------------------------
def _create_hub(s: Session, data: Mapping[str, Any]) -> Hub:
    """A new hub (admins only; the API checks the role)."""
    name = data["name"].strip()
    if s.scalar(select(Hub.id).where(Hub.name == name)) is not None:
        raise conflict(f"A hub named {name!r} exists already.")
    hub = Hub(
        id=data.get("id") or new_id(),
        name=name,
        region=data["region"].strip(),
        host_setting=data.get("host_setting"),
        eip=data.get("eip"),
        created_at=utcnow(),
    )
    s.add(hub)
    s.flush()
    publishing.hub_created(s, hub)
    return hub


def _get_hub(s: Session, hub_id: uuid.UUID) -> Hub:
    hub = s.get(Hub, hub_id)
    if hub is None:
        raise not_found("hub")
    return hub


def _list_hubs(s: Session) -> list[Hub]:
    return list(s.scalars(select(Hub).order_by(Hub.name)))


# -- events -------------------------------------------------------------------------
def _event(s: Session, event_id: uuid.UUID, *, lock: bool = False) -> Event:
    query = select(Event).where(Event.id == event_id)
    if lock:
        query = query.with_for_update(of=Event)
    event = s.scalar(query)
    if event is None:
        raise not_found("event")
    return event


def _check_place(fmt: str, venue: str | None, online_url: str | None) -> None:
    """Online events need a URL, in-person ones a venue, hybrid ones both."""
    if fmt in ("online", "hybrid") and not online_url:
        raise invalid("online_url", f"Required for {fmt.replace('_', '-')} events.")
    if fmt in ("in_person", "hybrid") and not (venue or "").strip():
        raise invalid("venue", f"Required for {fmt.replace('_', '-')} events.")


def _visible_event(s: Session, who: Identity | None, event_id: uuid.UUID) -> Event:
    """Anyone sees published and cancelled events; drafts only their hub's leads (else 404)."""
    event = _event(s, event_id)
    if event.status == DRAFT and not (who and who.leads_hub(event.hub_id)):
        raise not_found("event")
    return event


def _uuids(values: Any) -> list[uuid.UUID]:
    """The valid UUIDs among token claims (a malformed claim grants nothing)."""
    out = []
    for value in values:
        try:
            out.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return out


def _list_events(
    s: Session, who: Identity | None, args: Mapping[str, Any]
) -> tuple[list[Event], str | None]:
    """Events, oldest first (``order=newest``: newest first); drafts only of hubs the
    caller leads (admins: all)."""
    query = select(Event)
    if args.get("hub_id"):
        query = query.where(Event.hub_id == args["hub_id"])
    if args.get("status"):
        query = query.where(Event.status == args["status"])
    if who is None or not who.is_admin:
        led = _uuids(who.hub_ids if who and "hub_lead" in who.roles else ())
        query = query.where(or_(Event.status != DRAFT, Event.hub_id.in_(led)))
    return page(
        s,
        query,
        key=Event.created_at,
        ident=Event.id,
        limit=int(args.get("limit") or 20),
        cursor=args.get("cursor"),
        descending=args.get("order") == "newest",
    )


def event_sessions(s: Session, event: Event) -> list[CatalogueSession]:
    return list(
        s.scalars(
            select(CatalogueSession)
            .where(CatalogueSession.event_id == event.id)
            .order_by(CatalogueSession.starts_at, CatalogueSession.id)
        )
    )


def _create_event(s: Session, who: Identity, data: Mapping[str, Any]) -> Event:
    """A draft event of a hub the caller leads."""
    require_lead(who, data["hub_id"])
    if s.get(Hub, data["hub_id"]) is None:
        raise invalid("hub_id", "No such hub.")
    _check_place(data["format"], data.get("venue"), data.get("online_url"))
    now = utcnow()
    event = Event(
        id=data.get("id") or new_id(),
        hub_id=data["hub_id"],
        status=DRAFT,
        created_by=who.user_id,
        created_at=now,
        updated_at=now,
        **{k: data[k] for k in EVENT_FIELDS if k in data},
    )
    event.cpd_hours = Decimal(str(data["cpd_hours"])).quantize(Decimal("0.01"))
    event.refresh_keys()
    s.add(event)
    s.flush()
    audit(s, who, event, "created", details={"title": event.title})
    return event


def _managed_event(s: Session, who: Identity, event_id: uuid.UUID) -> Event:
    """The event, locked, if the caller leads its hub; 404 for drafts others cannot see."""
    event = _event(s, event_id, lock=True)
    if event.status == DRAFT and not who.leads_hub(event.hub_id):
        # A draft's existence is not disclosed to other hubs' leads.
        raise not_found("event")
    require_lead(who, event.hub_id)
    return event


def _update_event(s: Session, who: Identity, event_id: uuid.UUID, data: Mapping[str, Any]) -> Event:
    """Edit an event's fields; a published event tells bookings (``catalogue.event.updated``)."""
    event = _managed_event(s, who, event_id)
    if event.status == CANCELLED:
        raise conflict("The event was cancelled.")
    merged = {k: data.get(k, getattr(event, k)) for k in ("format", "venue", "online_url")}
    _check_place(merged["format"], merged["venue"], merged["online_url"])
    changed = []
    for key in EVENT_FIELDS:
        if key not in data:
            continue
        value = data[key]
        if key == "cpd_hours":
            value = Decimal(str(value)).quantize(Decimal("0.01"))
        if getattr(event, key) != value:
            setattr(event, key, value)
            changed.append(key)
    if not changed:
        return event
    event.refresh_keys()
    event.updated_at = utcnow()
    s.flush()
    audit(s, who, event, "updated", details={"changed": changed})
    if event.status == PUBLISHED:
        publishing.event_updated(s, event, changed)
    return event


def _publish_event(s: Session, who: Identity, event_id: uuid.UUID) -> Event:
    """Draft → published: every scheduled session becomes bookable (one event each)."""
    event = _managed_event(s, who, event_id)
    if event.status == PUBLISHED:
        return event  # publishing twice is a no-op, not an error
    if event.status == CANCELLED:
        raise conflict("A cancelled event cannot be published.")
    sessions = [x for x in event_sessions(s, event) if x.status == SCHEDULED]
    if not sessions:
        raise conflict("Add at least one session before publishing.")
    now = utcnow()
    event.status = PUBLISHED
    event.published_at = now
    event.updated_at = now
    s.flush()
    audit(s, who, event, "published", details={"sessions": len(sessions)})
    for row in sessions:
        publishing.session_scheduled(s, row)
    return event


def _cancel_event(s: Session, who: Identity, event_id: uuid.UUID, reason: str) -> Event:
    """Cancel the whole event: each scheduled session is cancelled (one event each)."""
    event = _managed_event(s, who, event_id)
    if event.status == CANCELLED:
        raise conflict("The event is already cancelled.")
    was_published = event.status == PUBLISHED
    now = utcnow()
    event.status = CANCELLED
    event.cancel_reason = reason
    event.cancelled_at = now
    event.updated_at = now
    cancelled = []
    for row in event_sessions(s, event):
        if row.status == SCHEDULED:
            _cancel_row(row, reason, now)
            cancelled.append(row)
    s.flush()
    audit(s, who, event, "cancelled", details={"reason": reason, "sessions": len(cancelled)})
    if was_published:
        for row in cancelled:
            publishing.session_cancelled(s, row, event_cancelled=True)
        publishing.event_updated(s, event, ["status"])
    return event


# -- sessions -----------------------------------------------------------------------
def _require_future(field: str, when: datetime) -> None:
    if when <= utcnow():
        raise invalid(field, "Must be in the future.")


def _add_sessions(
    s: Session, who: Identity, event_id: uuid.UUID, data: Mapping[str, Any]
) -> list[CatalogueSession]:
    """One session, or a series from ``rrule``; on a published event each is scheduled at once."""
    event = _managed_event(s, who, event_id)
    if event.status == CANCELLED:
        raise conflict("The event was cancelled.")
    starts_at: datetime = data["starts_at"]
    ends_at: datetime = data["ends_at"]
    _require_future("starts_at", starts_at)
    if data.get("rrule"):
        try:
            starts = expand(data["rrule"], starts_at)
        except RecurrenceError as exc:
            raise invalid("rrule", str(exc)) from exc
        duration = local_duration(starts_at, ends_at)
        times = [(start, shift_end(start, duration)) for start in starts]
        series_id: uuid.UUID | None = new_id()
    else:
        times = [(starts_at, ends_at)]
        series_id = None
    now = utcnow()
    rows = []
    for start, end in times:
        row = CatalogueSession(
            id=new_id(),
            event_id=event.id,
            hub_id=event.hub_id,
            series_id=series_id,
            starts_at=start,
            ends_at=end,
            capacity=data.get("capacity") or event.capacity,
            venue=data.get("venue"),
            status=SCHEDULED,
            sequence=0,
            created_at=now,
            updated_at=now,
        )
        row.event = event
        s.add(row)
        rows.append(row)
    s.flush()
    audit(
        s,
        who,
        event,
        "sessions_added",
        details={
            "count": len(rows),
            "session_ids": [str(r.id) for r in rows],
            "rrule": data.get("rrule"),
        },
    )
    if event.status == PUBLISHED:
        for row in rows:
            publishing.session_scheduled(s, row)
    return rows


def _session(s: Session, session_id: uuid.UUID, *, lock: bool = False) -> CatalogueSession:
    query = select(CatalogueSession).where(CatalogueSession.id == session_id)
    if lock:
        query = query.with_for_update(of=CatalogueSession)
    row = s.scalar(query)
    if row is None:
        raise not_found("session")
    return row


def _visible_session(s: Session, who: Identity | None, session_id: uuid.UUID) -> CatalogueSession:
    row = _session(s, session_id)
    if row.event.status == DRAFT and not (who and who.leads_hub(row.hub_id)):
        raise not_found("session")
    return row


def _managed_session(s: Session, who: Identity, session_id: uuid.UUID) -> CatalogueSession:
    row = _session(s, session_id, lock=True)
    if row.event.status == DRAFT and not who.leads_hub(row.hub_id):
        raise not_found("session")
    require_lead(who, row.hub_id)
    if row.status == CANCELLED or row.event.status == CANCELLED:
        raise conflict("The session was cancelled.")
    if row.starts_at <= utcnow():
        raise conflict("The session has started; it can no longer be changed.")
    return row


def _change_session(
    s: Session, who: Identity, session_id: uuid.UUID, data: Mapping[str, Any]
) -> CatalogueSession:
    """Reschedule, change capacity or move room; ``sequence`` + 1 for any real change.

    A capacity below the places already confirmed bumps no one (bookings keeps them
    and confirms no more until the count falls under the new capacity).
    """
    row = _managed_session(s, who, session_id)
    old_start, old_end, old_capacity = row.starts_at, row.ends_at, row.capacity
    new_start = data.get("starts_at", row.starts_at)
    new_end = data.get("ends_at", row.ends_at)
    if "starts_at" in data and "ends_at" not in data:
        new_end = new_start + (row.ends_at - row.starts_at)  # keep the length
    if new_end <= new_start:
        raise invalid("ends_at", "Must be after starts_at.")
    if new_end - new_start > MAX_SESSION:
        raise invalid("ends_at", "A session lasts at most 12 hours.")
    changes = []
    if (new_start, new_end) != (old_start, old_end):
        _require_future("starts_at", new_start)
        row.starts_at, row.ends_at = new_start, new_end
        changes.append("times")
    if "capacity" in data and data["capacity"] != row.capacity:
        row.capacity = data["capacity"]
        changes.append("capacity")
    if "venue" in data:
        venue = (data["venue"] or "").strip() or None
        if venue != row.venue:
            if (
                venue is None
                and row.event.format in ("in_person", "hybrid")
                and not (row.event.venue)
            ):
                raise invalid("venue", "An in-person session needs a venue.")
            row.venue = venue
            changes.append("venue")
    if not changes:
        return row
    row.sequence += 1
    row.updated_at = utcnow()
    s.flush()
    details: dict[str, Any] = {"changes": changes, "sequence": row.sequence}
    if "times" in changes:
        details.update(
            old_starts_at=old_start.isoformat(),
            old_ends_at=old_end.isoformat(),
            new_starts_at=new_start.isoformat(),
            new_ends_at=new_end.isoformat(),
        )
    if "capacity" in changes:
        details.update(old_capacity=old_capacity, new_capacity=row.capacity)
    if "venue" in changes:
        details["venue"] = row.venue
    action = "rescheduled" if "times" in changes else "session_changed"
    audit(s, who, row.event, action, session=row, details=details)
    if row.event.status == PUBLISHED:
        publishing.session_rescheduled(
            s,
            row,
            old_starts_at=old_start,
            old_ends_at=old_end,
            old_capacity=old_capacity,
            changes=changes,
        )
    return row


def _cancel_row(row: CatalogueSession, reason: str, now: datetime) -> None:
    row.status = CANCELLED
    row.cancel_reason = reason
    row.cancelled_at = now
    row.updated_at = now
    row.sequence += 1  # calendars need a higher SEQUENCE to accept the cancellation


def _cancel_session(
    s: Session, who: Identity, session_id: uuid.UUID, reason: str
) -> CatalogueSession:
    """Cancel one session (``catalogue.session.cancelled`` when its event is published)."""
    row = _managed_session(s, who, session_id)
    _cancel_row(row, reason, utcnow())
    s.flush()
    audit(s, who, row.event, "session_cancelled", session=row, details={"reason": reason})
    if row.event.status == PUBLISHED:
        publishing.session_cancelled(s, row, event_cancelled=False)
    return row


# -- public listing -----------------------------------------------------------------
def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(column: Any, text: str) -> Any:
    """``column`` contains ``text`` literally (portable LIKE with escaped wildcards)."""
    return column.like(f"%{_like_escape(text)}%", escape="\\")


def listing_query(args: Mapping[str, Any], now: datetime | None = None) -> Select[Any]:
    """One SELECT (sessions ⋈ events ⋈ hubs) for a page: no query per item."""
    query = (
        select(CatalogueSession)
        .join(CatalogueSession.event)
        .join(Event.hub)
        .options(contains_eager(CatalogueSession.event).contains_eager(Event.hub))
        .where(CatalogueSession.status == SCHEDULED, Event.status == PUBLISHED)
    )
    start_from = args.get("from_") or now or utcnow()
    query = query.where(CatalogueSession.starts_at >= start_from)
    if args.get("to"):
        query = query.where(CatalogueSession.starts_at < args["to"])
    if args.get("hub_id"):
        query = query.where(CatalogueSession.hub_id == args["hub_id"])
    # Event-level filters select event ids first (the events table is small), so a
    # filter that matches little costs a scan of events, not a join per session.
    matching = []
    if args.get("kind"):
        matching.append(Event.kind == args["kind"])
    if args.get("format"):
        matching.append(Event.format == args["format"])
    if args.get("audience"):
        matching.append(_contains(Event.audience_key, f"|{args['audience']}|"))
    if args.get("topic"):
        matching.append(_contains(Event.topics_key, f"|{args['topic']}|"))
    for word in (args.get("q") or "").lower().split()[:8]:
        matching.append(_contains(Event.search_text, word))
    if matching:
        ids = select(Event.id).where(Event.status == PUBLISHED, *matching).correlate(None)
        query = query.where(CatalogueSession.event_id.in_(ids))
    return query


def _list_sessions(
    s: Session, args: Mapping[str, Any]
) -> tuple[list[CatalogueSession], str | None]:
    """Bookable sessions, soonest first, one page (``listing_query`` has the filters)."""
    return page(
        s,
        listing_query(args),
        key=CatalogueSession.starts_at,
        ident=CatalogueSession.id,
        limit=int(args.get("limit") or 20),
        cursor=args.get("cursor"),
    )


# -- documents ----------------------------------------------------------------------
def event_fields(event: Event) -> dict[str, Any]:
    """The event's fields a booker needs, as the session documents and events carry them."""
    return {
        "event_id": event.id,
        "hub_id": event.hub_id,
        "hub_name": event.hub.name,
        "title": event.title,
        "kind": event.kind,
        "format": event.format,
        "summary": event.summary,
        "audience": list(event.audience or []),
        "topics": list(event.topics or []),
        "cpd_hours": float(event.cpd_hours),
        "price_pence": event.price_pence,
        "funded_places": event.funded_places,
        "cost_per_funded_place_pence": event.cost_per_funded_place_pence,
        "funding_line": event.funding_line,
        "funded_setting_types": list(event.funded_setting_types or []),
        "refund_days_before": event.refund_days_before,
        "online_url": event.online_url,
        "event_status": event.status,
    }


def session_doc(row: CatalogueSession) -> dict[str, Any]:
    """A session as the API shows it (the SessionSchema fields)."""
    return {
        **event_fields(row.event),
        "id": row.id,
        "series_id": row.series_id,
        "starts_at": row.starts_at,
        "ends_at": row.ends_at,
        "capacity": row.capacity,
        "status": row.status,
        "sequence": row.sequence,
        "cancel_reason": row.cancel_reason,
        "venue": row.effective_venue,
        "updated_at": row.last_changed,
    }


def event_doc(event: Event, sessions: list[CatalogueSession]) -> dict[str, Any]:
    doc = {k: getattr(event, k) for k in EVENT_FIELDS}
    doc.update(
        id=event.id,
        hub_id=event.hub_id,
        hub_name=event.hub.name,
        cpd_hours=float(event.cpd_hours),
        status=event.status,
        cancel_reason=event.cancel_reason,
        created_at=event.created_at,
        updated_at=event.updated_at,
        published_at=event.published_at,
        cancelled_at=event.cancelled_at,
        sessions=sessions,
    )
    return doc


# -- units of work: the API and the demo call these, nothing else opens a session ----
def hubs(db: Database) -> list[Hub]:
    with db.read() as s:
        return _list_hubs(s)


def hub(db: Database, hub_id: uuid.UUID) -> Hub:
    with db.read() as s:
        return _get_hub(s, hub_id)


def create_hub(db: Database, data: Mapping[str, Any]) -> Hub:
    """A new hub (admins only; the API checks the role)."""
    with db.transaction() as s:
        return _create_hub(s, data)


def ensure_hub(db: Database, data: Mapping[str, Any]) -> Hub:
    """The hub with ``data["id"]``, created if missing (idempotent seeding)."""
    with db.transaction() as s:
        return s.get(Hub, data["id"]) or _create_hub(s, data)


def programme_size(db: Database, hub_ids: list[uuid.UUID]) -> tuple[int, int]:
    """How many events and sessions these hubs have (any status)."""
    with db.read() as s:
        events = s.scalar(select(func.count()).select_from(Event).where(Event.hub_id.in_(hub_ids)))
        sessions = s.scalar(
            select(func.count())
            .select_from(CatalogueSession)
            .where(CatalogueSession.hub_id.in_(hub_ids))
        )
    return int(events or 0), int(sessions or 0)


def _with_sessions(s: Session, event: Event) -> dict[str, Any]:
    return event_doc(event, event_sessions(s, event))


def events_page(db: Database, who: Identity | None, args: Mapping[str, Any]) -> dict[str, Any]:
    with db.read() as s:
        rows, cursor = _list_events(s, who, args)
        if not args.get("with_sessions"):
            items = [event_doc(e, []) for e in rows]
            for doc in items:
                del doc["sessions"]
            return {"items": items, "next_cursor": cursor}
        by_event: dict[uuid.UUID, list[CatalogueSession]] = {e.id: [] for e in rows}
        for row in s.scalars(
            select(CatalogueSession)
            .where(CatalogueSession.event_id.in_(list(by_event)))
            .order_by(CatalogueSession.starts_at, CatalogueSession.id)
        ):
            by_event[row.event_id].append(row)
        return {"items": [event_doc(e, by_event[e.id]) for e in rows], "next_cursor": cursor}


def event(db: Database, who: Identity | None, event_id: uuid.UUID) -> dict[str, Any]:
    with db.read() as s:
        return _with_sessions(s, _visible_event(s, who, event_id))


def event_history(db: Database, who: Identity, event_id: uuid.UUID) -> dict[str, Any]:
    with db.read() as s:
        return {"items": _history(s, who, event_id), "next_cursor": None}


def create_event(db: Database, who: Identity, data: Mapping[str, Any]) -> dict[str, Any]:
    with db.transaction() as s:
        return event_doc(_create_event(s, who, data), [])


def update_event(
    db: Database, who: Identity, event_id: uuid.UUID, data: Mapping[str, Any]
) -> dict[str, Any]:
    with db.transaction() as s:
        return _with_sessions(s, _update_event(s, who, event_id, data))


def add_sessions(
    db: Database, who: Identity, event_id: uuid.UUID, data: Mapping[str, Any]
) -> list[dict[str, Any]]:
    with db.transaction() as s:
        return [session_doc(r) for r in _add_sessions(s, who, event_id, data)]


def publish_event(db: Database, who: Identity, event_id: uuid.UUID) -> dict[str, Any]:
    with db.transaction() as s:
        return _with_sessions(s, _publish_event(s, who, event_id))


def cancel_event(db: Database, who: Identity, event_id: uuid.UUID, reason: str) -> dict[str, Any]:
    with db.transaction() as s:
        return _with_sessions(s, _cancel_event(s, who, event_id, reason))


def seed_event(
    db: Database,
    who: Identity,
    fields: Mapping[str, Any],
    sessions: list[Mapping[str, Any]],
    *,
    publish: bool,
) -> bool:
    """Create an event (id in ``fields``) with its sessions, published or not, all in one
    transaction; False if it exists already (demo data: a rerun changes nothing)."""
    with db.transaction() as s:
        if s.get(Event, fields["id"]) is not None:
            return False
        _create_event(s, who, fields)
        for body in sessions:
            _add_sessions(s, who, fields["id"], body)
        if publish:
            _publish_event(s, who, fields["id"])
        return True


def sessions_page(db: Database, args: Mapping[str, Any]) -> dict[str, Any]:
    with db.read() as s:
        rows, cursor = _list_sessions(s, args)
        return {"items": [session_doc(r) for r in rows], "next_cursor": cursor}


def session(db: Database, who: Identity | None, session_id: uuid.UUID) -> dict[str, Any]:
    with db.read() as s:
        return session_doc(_visible_session(s, who, session_id))


def change_session(
    db: Database, who: Identity, session_id: uuid.UUID, data: Mapping[str, Any]
) -> dict[str, Any]:
    with db.transaction() as s:
        return session_doc(_change_session(s, who, session_id, data))


def cancel_session(
    db: Database, who: Identity, session_id: uuid.UUID, reason: str
) -> dict[str, Any]:
    with db.transaction() as s:
        return session_doc(_cancel_session(s, who, session_id, reason))
