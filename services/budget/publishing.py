"""The budget.* events, written to the outbox in the caller's transaction
(docs/architecture.md, "Messages"): an event exists if and only if the change committed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from services.budget.models import Account, Funding
from shared.events import budget as events
from shared.messaging.outbox import publish


def _publish(s: Session, event_type: str, data: dict[str, Any]) -> None:
    """Hand the event to the outbox (its schema validates it before commit)."""
    publish(s, event_type, events.SCHEMAS[event_type]().dump(data))


def funding_committed(s: Session, funding: Funding, transfer_id: uuid.UUID) -> None:
    _publish(
        s,
        events.FUNDING_COMMITTED,
        {
            "booking_id": funding.booking_id,
            "hub_id": funding.hub_id,
            "transfer_id": transfer_id,
            "amount_pence": funding.amount_pence or 0,
            "line": funding.line,
            "financial_year": funding.financial_year,
        },
    )


def funding_declined(s: Session, funding: Funding) -> None:
    _publish(
        s,
        events.FUNDING_DECLINED,
        {
            "booking_id": funding.booking_id,
            "hub_id": funding.hub_id,
            "reason": funding.reason,
            "detail": funding.detail or "",
        },
    )


def alert_raised(s: Session, account: Account, threshold: int, raised_at: datetime) -> None:
    _publish(
        s,
        events.ALERT_RAISED,
        {
            "hub_id": account.hub_id,
            "financial_year": account.financial_year,
            "line": account.line,
            "threshold_percent": threshold,
            "allocated_pence": account.allocated,
            "used_pence": account.used,
            "raised_at": raised_at,
        },
    )
