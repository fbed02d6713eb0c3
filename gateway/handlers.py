"""Bus consumers of the gateway: which hubs exist (``gateway/hubs.py``), and budget
alerts, mailed to the hub's leads (the gateway is who knows them)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gateway.hubs import remember
from gateway.operations import alert_hub_leads
from shared.events import budget as budget_events
from shared.events import catalogue as catalogue_events
from shared.messaging import Event, HandlerContext, Registry

#: What the gateway worker consumes; the bus topology is derived from it.
handlers = Registry("gateway")


@handlers.handles(catalogue_events.HUB_CREATED, queue="catalogue-hubs")
def on_hub_created(s: Session, event: Event, _ctx: HandlerContext) -> None:
    remember(s, event.data["hub_id"], event.data["name"])


@handlers.handles(budget_events.ALERT_RAISED, queue="budget-alerts")
def on_budget_alert(s: Session, event: Event, ctx: HandlerContext) -> None:
    alert_hub_leads(s, ctx.settings, event.data)
