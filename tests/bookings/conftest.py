"""Fixtures for the bookings service: an app on a fresh backend, tokens, sessions, a server."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from services.bookings import operations as ops
from services.bookings.app import create_app
from services.bookings.models import Booking, SessionReplica
from services.bookings.snapshots import snapshot_from_catalogue
from shared.db import Database
from shared.mail import MailOutbox
from tests.support.backends import Backend
from tests.support.stripe_local import Received, StripeLocal, WebhookReceiver
from tests.support.tokens import bearer, install_test_verifier, make_token

HUB = uuid.UUID("11111111-1111-4111-8111-111111111111")
OTHER_HUB = uuid.UUID("22222222-2222-4222-8222-222222222222")


def future(days: float = 7, hour: int = 10) -> datetime:
    base = datetime.now(UTC) + timedelta(days=days)
    return base.replace(hour=hour, minute=0, second=0, microsecond=0)


def session_snapshot(**overrides: Any) -> dict[str, Any]:
    """A catalogue session as the fat event / read-through would describe it."""
    starts = overrides.pop("starts_at", future())
    snap: dict[str, Any] = {
        "id": uuid.uuid4(),
        "event_id": uuid.uuid4(),
        "hub_id": HUB,
        "hub_name": "North Hub",
        "title": "Early maths in play",
        "kind": "training",
        "format": "in_person",
        "summary": "Counting, pattern and shape through play.",
        "topics": ["mathematics"],
        "starts_at": starts,
        "ends_at": starts + timedelta(hours=2),
        "capacity": 10,
        "status": "scheduled",
        "event_status": "published",
        "sequence": 0,
        "price_pence": 0,
        "cpd_hours": 2,
        "venue": "Hub room 1, 1 High Street",
        "online_url": None,
    }
    snap.update(overrides)
    return snap


@dataclass
class BookingsApp:
    """The bookings app plus helpers to drive it as different people."""

    app: Flask
    db: Database
    stripe: StripeLocal
    catalogue: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    catalogue_down: bool = False

    @property
    def settings(self):  # type: ignore[no-untyped-def]
        return self.app.extensions["eyhub"].settings

    @property
    def client(self):  # type: ignore[no-untyped-def]
        return self.app.test_client()

    def token(
        self,
        user: str | uuid.UUID | None = None,
        *,
        roles: tuple[str, ...] = ("practitioner",),
        hub_ids: tuple[uuid.UUID, ...] = (),
        name: str = "Pat Practitioner",
    ) -> str:
        user_id = str(user or uuid.uuid4())
        return make_token(
            self.settings,
            user_id=user_id,
            roles=roles,
            hub_ids=[str(h) for h in hub_ids],
            email=f"{user_id[:8]}@example.org",
            name=name,
            setting_type="childminder",
        )

    def headers(self, token: str, **extra: str) -> dict[str, str]:
        return {**bearer(token), **extra}

    def lead_token(self, hub: uuid.UUID = HUB) -> str:
        return self.token(roles=("hub_lead",), hub_ids=(hub,), name="Lee Lead")

    def add_session(self, **overrides: Any) -> dict[str, Any]:
        """Replicate a session as the catalogue events would."""
        snap = session_snapshot(**overrides)
        with self.db.transaction() as s:
            ops.upsert_session(s, snap)
        return snap

    def publish_only_in_catalogue(self, **overrides: Any) -> dict[str, Any]:
        """A session the catalogue has but whose event has not reached us yet."""
        snap = session_snapshot(**overrides)
        self.catalogue[snap["id"]] = snap
        return snap

    def book(self, token: str, session_id: Any, **headers: str):  # type: ignore[no-untyped-def]
        return self.client.post(
            "/api/bookings",
            json={"session_id": str(session_id)},
            headers=self.headers(token, **headers),
        )

    def bookings(self, session_id: Any) -> list[Booking]:
        with self.db.transaction() as s:
            return list(
                s.scalars(
                    select(Booking)
                    .where(Booking.session_id == uuid.UUID(str(session_id)))
                    .order_by(Booking.created_at)
                )
            )

    def replica(self, session_id: Any) -> SessionReplica | None:
        with self.db.transaction() as s:
            return s.get(SessionReplica, uuid.UUID(str(session_id)))

    def mails(self, to: str | None = None) -> list[EmailMessage]:
        with self.db.transaction() as s:
            rows = list(s.scalars(select(MailOutbox).order_by(MailOutbox.created_at)))
        parser = BytesParser(policy=policy.default)
        found = [parser.parsebytes(r.message) for r in rows]
        return [m for m in found if to is None or m["To"] == to]

    # -- card payments (the stand-in is a real process; its webhooks wait in an inbox) --
    @property
    def inbox(self) -> WebhookReceiver:
        return self.stripe.inbox  # type: ignore[attr-defined,no-any-return]

    def booking(self, booking_id: Any) -> Booking:
        with self.db.transaction() as s:
            found = s.get(Booking, uuid.UUID(str(booking_id)))
            assert found is not None
            return found

    def deliver(self, deliveries: list[Received]) -> list[Any]:
        """Hand Stripe's webhooks to the app, byte for byte, in this order."""
        out = []
        for d in deliveries:
            headers = {"Content-Type": "application/json"}
            if d.signature is not None:
                headers["Stripe-Signature"] = d.signature
            out.append(
                self.client.post("/api/bookings/stripe/webhook", data=d.body, headers=headers)
            )
        return out

    def pay(self, booking_id: Any, *, deliver: bool = True) -> list[Any]:
        """Pay on the stand-in (as the hosted page would); hand over its webhook."""
        checkout = self.booking(booking_id).checkout_session_id
        assert checkout, "no checkout session"
        self.stripe.pay(checkout)
        if not deliver:
            return []
        return self.deliver(self.inbox.take("checkout.session.completed"))

    def set_past(self, session_id: Any, *, hours_ago: float = 3) -> None:
        """Move a replicated session into the past (as if time had passed)."""
        with self.db.transaction() as s:
            row = s.get(SessionReplica, uuid.UUID(str(session_id)))
            assert row is not None
            length = row.ends_at - row.starts_at
            row.starts_at = datetime.now(UTC) - timedelta(hours=hours_ago)
            row.ends_at = row.starts_at + length


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _fake_fetcher(bapp: BookingsApp) -> Callable[[uuid.UUID], Mapping[str, Any] | None]:
    from shared.problems import Problem

    def fetch(session_id: uuid.UUID) -> Mapping[str, Any] | None:
        if bapp.catalogue_down:
            raise Problem(503, "Service unavailable", "catalogue down")
        snap = bapp.catalogue.get(session_id)
        if snap is None:
            return None
        # As the catalogue's GET /api/catalogue/sessions/{id} sends it: JSON, not Python.
        return snapshot_from_catalogue(json.loads(json.dumps(snap, default=_json)))

    return fetch


@pytest.fixture(scope="session")
def stripe_local() -> Iterator[StripeLocal]:
    """The Stripe stand-in as a real process (one per test worker); its webhooks go to
    an inbox the tests hand to the app in the order they choose."""
    with (
        WebhookReceiver() as inbox,
        StripeLocal(webhook_url=inbox.url, secret="whsec_bookings_tests") as sl,
    ):
        sl.inbox = inbox  # type: ignore[attr-defined]
        yield sl


@pytest.fixture
def bookings_app(backend: Backend, stripe_local: StripeLocal) -> Iterator[BookingsApp]:
    app = create_app(
        backend.settings(
            EYHUB_AUTO_MIGRATE="true",
            # Outcomes, not timings: a burst of 60 writers on SQLite, on a 2-core machine
            # running four test workers, can queue past the 5 s default and answer 503
            # (tests/bookings/test_lock_timeouts.py covers the timeout itself).
            EYHUB_LOCK_TIMEOUT_SECONDS="30",
            EYHUB_STRIPE_API_BASE=stripe_local.api_base,
            STRIPE_WEBHOOK_SECRET=stripe_local.secret,
        )
    )
    install_test_verifier(app)
    rt = app.extensions["eyhub"]
    bapp = BookingsApp(app=app, db=rt.db, stripe=stripe_local)
    stripe_local.inbox.drain()  # type: ignore[attr-defined]
    rt.extras["session_fetcher"] = _fake_fetcher(bapp)
    yield bapp
    rt.db.dispose()


@pytest.fixture
def live_server(bookings_app: BookingsApp) -> Iterator[str]:
    """The app behind a real threaded HTTP server, for true concurrency."""
    server = make_server("127.0.0.1", 0, bookings_app.app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)
