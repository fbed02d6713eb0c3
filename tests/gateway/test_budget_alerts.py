"""``budget.alert.raised`` reaches a hub's leads by mail: the gateway knows who they are
(issue 13, "Alerts"). The handler runs as the gateway worker runs it: through its
registry, in one transaction with the inbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser

from flask.testing import FlaskClient
from sqlalchemy import select

from gateway import operations as ops
from gateway.handlers import handlers
from gateway.hubs import remember
from shared.events import budget as budget_events
from shared.mail import MailOutbox
from shared.messaging import Event, HandlerContext


def test_a_budget_alert_mails_every_active_lead_of_that_hub_only(gw: FlaskClient) -> None:
    rt = gw.application.extensions["eyhub"]
    db, settings = rt.db, rt.settings
    hub, other = uuid.uuid4(), uuid.uuid4()
    with db.transaction() as s:
        remember(s, hub, "Riverside Hub")
    people = [
        ("lead-a@example.org", ("hub_lead",), [hub], True),
        ("lead-b@example.org", ("hub_lead", "mentor"), [hub], True),
        ("gone@example.org", ("hub_lead",), [hub], False),
        ("elsewhere@example.org", ("hub_lead",), [other], True),
        ("mentor@example.org", ("mentor",), [hub], True),
    ]
    for email, roles, hubs, active in people:
        user = ops.create_user(
            db, email=email, password="a long password", name=email[:4], roles=roles, hub_ids=hubs
        )
        if not active:
            with db.transaction() as s:
                s.get(type(user), user.id).is_active = False  # type: ignore[union-attr]
    [spec] = [s for s in handlers.specs if budget_events.ALERT_RAISED in s.event_types]
    data = {
        "hub_id": hub,
        "financial_year": "2026-27",
        "line": "backfill",
        "threshold_percent": 80,
        "allocated_pence": 500_000,
        "used_pence": 412_500,
        "raised_at": datetime.now(UTC),
    }
    event = Event(
        id=uuid.uuid4(),
        type=budget_events.ALERT_RAISED,
        version=1,
        occurred_at=datetime.now(UTC),
        source="budget",
        correlation_id=None,
        causation_id=None,
        data=data,
        raw={},
    )
    with db.transaction() as s:
        spec.fn(s, event, HandlerContext(settings))
    with db.read() as s:
        mails = [
            BytesParser(policy=policy.default).parsebytes(m.message)
            for m in s.scalars(select(MailOutbox))
        ]
    alerts = [m for m in mails if m["Subject"].startswith("Budget alert")]
    assert sorted(m["To"] for m in alerts) == ["lead-a@example.org", "lead-b@example.org"]
    text = alerts[0].get_body(("plain",)).get_content()
    assert "Backfill (staff cover)" in text and "Riverside Hub" in text and "2026-27" in text
    assert "80%" in text and "£4,125.00" in text and "£875.00 left" in text
    assert f"/hubs/{hub}/budget" in text
