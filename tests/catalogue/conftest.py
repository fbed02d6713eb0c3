"""Fixtures for the catalogue service: an app on a fresh backend, people, events, outbox."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from services.catalogue.app import create_app
from shared.db import Database
from shared.events import catalogue as events
from shared.messaging.models import OutboxMessage
from tests.support.backends import Backend
from tests.support.tokens import bearer, install_test_verifier, make_token


def future(days: float = 14, hour: int = 10) -> datetime:
    base = datetime.now(UTC) + timedelta(days=days)
    return base.replace(hour=hour, minute=0, second=0, microsecond=0)


def iso(value: datetime) -> str:
    return value.isoformat()


@dataclass
class CatalogueApp:
    """The catalogue app plus helpers to drive it as admins, leads and the public."""

    app: Flask
    db: Database

    @property
    def settings(self):  # type: ignore[no-untyped-def]
        return self.app.extensions["eyhub"].settings

    @property
    def client(self):  # type: ignore[no-untyped-def]
        return self.app.test_client()

    def token(self, *, roles: tuple[str, ...] = ("practitioner",), hub_ids: Any = ()) -> str:
        return make_token(
            self.settings,
            user_id=str(uuid.uuid4()),
            roles=roles,
            hub_ids=[str(h) for h in hub_ids],
            name="Test Person",
        )

    def admin(self) -> dict[str, str]:
        return bearer(self.token(roles=("admin",)))

    def lead(self, hub_id: Any) -> dict[str, str]:
        return bearer(self.token(roles=("hub_lead",), hub_ids=(hub_id,)))

    def practitioner(self) -> dict[str, str]:
        return bearer(self.token())

    # -- requests -------------------------------------------------------------------
    def get(self, path: str, headers: dict[str, str] | None = None, **kw: Any):  # type: ignore[no-untyped-def]
        return self.client.get(path, headers=headers or {}, **kw)

    def post(self, path: str, json: Any = None, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return self.client.post(path, json=json, headers=headers or {})

    def patch(self, path: str, json: Any = None, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return self.client.patch(path, json=json, headers=headers or {})

    # -- building blocks ------------------------------------------------------------
    def hub(self, name: str | None = None, **extra: Any) -> dict[str, Any]:
        body = {"name": name or f"Hub {uuid.uuid4().hex[:8]}", "region": "South East", **extra}
        resp = self.post("/api/catalogue/hubs", body, self.admin())
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()

    def event(self, hub_id: Any, **overrides: Any) -> dict[str, Any]:
        body = event_body(hub_id, **overrides)
        resp = self.post("/api/catalogue/events", body, self.lead(hub_id))
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()

    def sessions(self, event: dict[str, Any], **body: Any) -> list[dict[str, Any]]:
        start = body.pop("starts_at", future())
        body.setdefault("ends_at", start + timedelta(hours=2))
        body = {k: iso(v) if isinstance(v, datetime) else v for k, v in body.items()}
        resp = self.post(
            f"/api/catalogue/events/{event['id']}/sessions",
            {"starts_at": iso(start), **body},
            self.lead(event["hub_id"]),
        )
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()["items"]

    def publish(self, event: dict[str, Any]) -> dict[str, Any]:
        resp = self.post(
            f"/api/catalogue/events/{event['id']}/publish", None, self.lead(event["hub_id"])
        )
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    def published_session(self, hub_id: Any, **event_overrides: Any) -> dict[str, Any]:
        event = self.event(hub_id, **event_overrides)
        (row,) = self.sessions(event)
        self.publish(event)
        return row

    def outbox(self, event_type: str | None = None) -> list[OutboxMessage]:
        with self.db.transaction() as s:
            query = select(OutboxMessage).order_by(OutboxMessage.position)
            if event_type:
                query = query.where(OutboxMessage.event_type == event_type)
            return list(s.scalars(query))

    def programme_changes(self) -> list[OutboxMessage]:
        """What event and session edits published (creating the test's hub publishes
        ``catalogue.hub.created`` too; ``test_bus`` checks that one on its own)."""
        return [m for m in self.outbox() if m.event_type != events.HUB_CREATED]


def event_body(hub_id: Any, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hub_id": str(hub_id),
        "title": "Early maths through play",
        "kind": "training",
        "summary": "Counting, pattern and shape in continuous provision.",
        "description": "A practical session with ideas to take back to your setting.",
        "format": "in_person",
        "audience": ["childminder", "nursery"],
        "topics": ["mathematics"],
        "cpd_hours": 2,
        "price_pence": 0,
        "funded_places": 0,
        "cost_per_funded_place_pence": 0,
        "capacity": 20,
        "venue": "Hub room 1, 1 High Street, Lewes",
    }
    body.update(overrides)
    return body


@pytest.fixture
def catalogue(backend: Backend) -> Iterator[CatalogueApp]:
    settings = backend.settings(EYHUB_AUTO_MIGRATE="1")
    app = create_app(settings)
    install_test_verifier(app)
    rt = app.extensions["eyhub"]
    yield CatalogueApp(app=app, db=rt.db)
    rt.db.dispose()
