"""Turning what the catalogue says about a session into the replica's fields.

One place maps both the fat ``catalogue.session.*`` events and the catalogue's
``GET /api/catalogue/sessions/{id}`` body, so the two paths cannot drift apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any


def _dt(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    text = str(value).replace("Z", "+00:00")
    return datetime.fromisoformat(text)


def _uuid(value: Any) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(str(value))


def snapshot_from_catalogue(body: Mapping[str, Any]) -> dict[str, Any]:
    """Replica fields from a session document (event fields flat or under ``event``)."""
    event = body.get("event") if isinstance(body.get("event"), Mapping) else {}
    hub = body.get("hub") if isinstance(body.get("hub"), Mapping) else {}

    def pick(name: str, default: Any = None) -> Any:
        if name in body and body[name] is not None:
            return body[name]
        return event.get(name, default)

    status = body.get("status") or "scheduled"
    event_status = body.get("event_status") or event.get("status") or "published"
    snap: dict[str, Any] = {
        "id": _uuid(body.get("session_id") or body["id"]),
        "event_id": _uuid(pick("event_id") or event.get("id")),
        "hub_id": _uuid(pick("hub_id") or hub.get("id")),
        "hub_name": pick("hub_name") or hub.get("name"),
        "title": pick("title") or "",
        "kind": pick("kind") or "training",
        "format": pick("format") or "in_person",
        "summary": pick("summary"),
        "topics": list(pick("topics") or []),
        "starts_at": _dt(body.get("starts_at")),
        "ends_at": _dt(body.get("ends_at")),
        "capacity": int(pick("capacity") or 0),
        "status": status,
        "event_status": event_status,
        "sequence": int(body.get("sequence") or 0),
        "price_pence": int(pick("price_pence") or 0),
        "funded_places": pick("funded_places"),  # int or None
        "cost_per_funded_place_pence": int(pick("cost_per_funded_place_pence") or 0),
        "funding_line": pick("funding_line") or "backfill",
        "funded_setting_types": list(pick("funded_setting_types") or []),
        "refund_days_before": int(pick("refund_days_before", 7)),
        "cpd_hours": pick("cpd_hours") or 0,
        "venue": pick("venue"),
        "online_url": pick("online_url"),
        "cancel_reason": body.get("cancel_reason") or body.get("reason"),
    }
    return snap
