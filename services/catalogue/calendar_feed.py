"""The public calendar of a hub: ``GET /calendar/hubs/{hub_id}.ics`` (docs/architecture.md,
"Calendars").

Every session of the hub's published events, from 90 days back onwards. A cancelled
session stays in the feed as ``STATUS:CANCELLED`` (with its raised SEQUENCE) until it
has passed, so subscribed calendars remove it instead of keeping a stale entry. Each
item's DTSTAMP is its last change, so the bytes (and the strong ETag) only change when
the programme does.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import Response
from flask_smorest import Blueprint
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import contains_eager

from services.catalogue.models import CANCELLED, SCHEDULED, CatalogueSession, Event, Hub
from shared.calendar import CalendarItem, build_calendar, domain_from_url, feed_response
from shared.db import utcnow
from shared.problems import Problem
from shared.web import current_db, runtime

WINDOW = timedelta(days=90)
REFRESH = timedelta(hours=1)

bp = Blueprint(
    "catalogue_calendar",
    __name__,
    url_prefix="/calendar/hubs",
    description="Public subscription calendars of each hub's programme.",
)


def _price(pence: int) -> str:
    return "Free" if pence == 0 else f"£{pence / 100:.2f}"


def _item(row: CatalogueSession, domain: str, public_url: str) -> CalendarItem:
    event = row.event
    lines = [event.summary] if event.summary else []
    lines.append(f"{event.hub.name} · {event.kind.replace('_', ' ')} · {event.cpd_hours} CPD hours")
    lines.append(f"Price: {_price(event.price_pence)}")
    if event.online_url:
        lines.append(f"Join online: {event.online_url}")
    if row.status == CANCELLED and row.cancel_reason:
        lines.insert(0, f"CANCELLED: {row.cancel_reason}")
    location = row.effective_venue or (event.online_url if event.format == "online" else None)
    changed = row.last_changed
    return CalendarItem(
        uid=f"session-{row.id}@{domain}",
        summary=event.title,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        dtstamp=changed,
        last_modified=changed,
        description="\n".join(lines),
        location=location,
        url=f"{public_url}/api/catalogue/sessions/{row.id}",
        sequence=row.sequence,
        status="CANCELLED" if row.status == CANCELLED else "CONFIRMED",
        categories=(event.kind,),
    )


@bp.route("/<uuid:hub_id>.ics")
@bp.response(200, content_type="text/calendar")
@bp.alt_response(304, description="Not modified since the ETag / date you sent.")
@bp.alt_response(404, description="No such hub.")
def hub_feed(hub_id: uuid.UUID) -> Response:
    """The hub's published sessions as an iCalendar feed (subscribe to the URL)."""
    rt = runtime()
    now = utcnow()
    with current_db().read() as s:
        hub = s.get(Hub, hub_id)
        if hub is None:
            raise Problem(404, "Not found", "No such hub.", kind="not-found")
        rows = list(
            s.scalars(
                select(CatalogueSession)
                .join(CatalogueSession.event)
                .join(Event.hub)
                .options(contains_eager(CatalogueSession.event).contains_eager(Event.hub))
                .where(
                    CatalogueSession.hub_id == hub_id,
                    Event.published_at.is_not(None),
                    or_(
                        and_(
                            CatalogueSession.status == SCHEDULED,
                            CatalogueSession.ends_at >= now - WINDOW,
                        ),
                        and_(CatalogueSession.status == CANCELLED, CatalogueSession.ends_at > now),
                    ),
                )
                .order_by(CatalogueSession.starts_at, CatalogueSession.id)
            ).unique()
        )
        domain = domain_from_url(rt.settings.public_url)
        items = [_item(r, domain, rt.settings.public_url.rstrip("/")) for r in rows]
        last = max((r.last_changed for r in rows), default=hub.created_at)
        name = hub.name
    body = build_calendar(items, method="PUBLISH", name=name, refresh_interval=REFRESH)
    return feed_response(body, last, filename=f"hub-{hub_id}.ics")
