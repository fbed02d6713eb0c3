"""Fixtures for the budget service: one app per test module and backend, event payloads,
delivery through the real consumer path (inbox + handler in one transaction), and the
ledger's invariants.

The app (and its databases) is shared by a module's tests to keep the folder cheap:
each test works in hubs and events of its own (fresh UUIDs), so tests never see each
other's money.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from eyhub.components import subscriptions
from services.budget.app import create_app
from services.budget.handlers import handlers
from services.budget.models import BALANCES, Account, AccountMonth, Funding, Transfer
from shared.db import Database, utcnow
from shared.events import bookings as booking_events
from shared.events import mentoring as mentoring_events
from shared.messaging.envelope import make_envelope
from shared.messaging.inbox import Dispatcher
from shared.messaging.models import OutboxMessage
from shared.messaging.topology import Topology
from tests.conftest import BACKEND_PARAMS, _skip_unless_configured
from tests.support.backends import Backend
from tests.support.tokens import bearer, install_test_verifier, make_token

YEAR = "2026-27"
#: A session in the 2026-27 financial year (London: 10:00 BST).
STARTS = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.isoformat()


@dataclass
class BudgetApp:
    app: Flask
    db: Database
    backend: str
    dispatcher: Dispatcher = field(init=False)

    def __post_init__(self) -> None:
        topology = Topology(self.settings, subscriptions())
        self.dispatcher = Dispatcher("budget", self.settings, self.db, topology, handlers)
        self._queues = {
            purpose: topology.queue_name("budget", f"{purpose}-{what}")
            for purpose, what in (("bookings", "ledger"), ("mentoring", "meetings"))
        }

    @property
    def settings(self):  # type: ignore[no-untyped-def]
        return self.app.extensions["eyhub"].settings

    @property
    def client(self):  # type: ignore[no-untyped-def]
        return self.app.test_client()

    # -- people ---------------------------------------------------------------------------
    def headers(self, *roles: str, hubs: tuple[uuid.UUID, ...] = ()) -> dict[str, str]:
        token = make_token(
            self.settings,
            user_id=str(uuid.uuid4()),
            roles=roles or ("practitioner",),
            hub_ids=[str(h) for h in hubs],
        )
        return bearer(token)

    def lead(self, hub: uuid.UUID) -> dict[str, str]:
        return self.headers("hub_lead", hubs=(hub,))

    def admin(self) -> dict[str, str]:
        return self.headers("admin")

    # -- calls ----------------------------------------------------------------------------
    def allocate(
        self, hub: uuid.UUID, amount: int, line: str = "training_delivery", **more: Any
    ) -> Any:
        body = {
            "financial_year": YEAR,
            "line": line,
            "amount_pence": amount,
            "source": "DfE Stronger Practice Hub grant",
            **more,
        }
        return self.client.post(
            f"/api/budget/hubs/{hub}/allocations", json=body, headers=self.lead(hub)
        )

    def spend(
        self, hub: uuid.UUID, amount: int, line: str = "training_delivery", **more: Any
    ) -> Any:
        body = {
            "line": line,
            "amount_pence": amount,
            "description": "Trainer fee",
            "spent_on": "2026-05-20",
            **more,
        }
        return self.client.post(f"/api/budget/hubs/{hub}/spend", json=body, headers=self.lead(hub))

    def put_settings(self, hub: uuid.UUID, **overrides: Any) -> Any:
        body = {
            "alert_thresholds": [80, 100],
            "overdraft_lines": [],
            "no_show_policy": "void",
            "mentor_hourly_rate_pence": None,
            **overrides,
        }
        resp = self.client.put(
            f"/api/budget/hubs/{hub}/settings", json=body, headers=self.lead(hub)
        )
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    def summary(self, hub: uuid.UUID, year: str = YEAR) -> dict[str, Any]:
        resp = self.client.get(
            f"/api/budget/hubs/{hub}/summary?financial_year={year}", headers=self.lead(hub)
        )
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    def line(self, hub: uuid.UUID, line: str = "training_delivery") -> dict[str, int]:
        found = [x for x in self.summary(hub)["lines"] if x["line"] == line]
        return found[0]

    def csv_rows(self, hub: uuid.UUID, query: str = "") -> list[dict[str, str]]:
        resp = self.client.get(
            f"/api/budget/hubs/{hub}/transfers?format=csv{query}", headers=self.lead(hub)
        )
        assert resp.status_code == 200
        assert resp.data.startswith(b"\xef\xbb\xbf"), "Excel needs the UTF-8 BOM"
        return list(csv.DictReader(io.StringIO(resp.data.decode("utf-8-sig"), newline="")))

    # -- the bus ----------------------------------------------------------------------------
    def deliver(
        self,
        event_type: str,
        data: dict[str, Any],
        *,
        message_id: uuid.UUID | None = None,
        queue: str = "bookings",
    ) -> str:
        """One message through the consumer (inbox + handler); returns the outcome."""
        return self.dispatcher.receive(
            self._queues[queue], self.envelope(event_type, data, message_id)
        )

    def deliver_batch(self, messages: list[dict[str, Any]], queue: str = "bookings") -> list[str]:
        return self.dispatcher.receive_batch(self._queues[queue], messages)

    @staticmethod
    def envelope(
        event_type: str, data: dict[str, Any], message_id: uuid.UUID | None = None
    ) -> dict[str, Any]:
        return make_envelope(
            id=message_id or uuid.uuid4(),
            event_type=event_type,
            version=1,
            occurred_at=utcnow(),
            source=event_type.split(".", 1)[0],
            correlation_id=None,
            causation_id=None,
            data=data,
        )

    # -- what was written --------------------------------------------------------------------
    def published(self, event_type: str, **match: Any) -> list[dict[str, Any]]:
        """Events in budget's outbox of this type whose data has these values."""
        with self.db.read() as s:
            rows = list(
                s.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.event_type == event_type)
                    .order_by(OutboxMessage.position)
                )
            )
        wanted = {k: str(v) for k, v in match.items()}
        return [r.data for r in rows if all(str(r.data.get(k)) == v for k, v in wanted.items())]

    def funding(self, booking_id: uuid.UUID) -> Funding | None:
        with self.db.read() as s:
            return s.get(Funding, booking_id)

    def transfers(self, hub: uuid.UUID) -> list[Transfer]:
        with self.db.read() as s:
            return list(
                s.scalars(
                    select(Transfer)
                    .where(Transfer.hub_id == hub)
                    .order_by(Transfer.created_at, Transfer.id)
                )
            )

    def check(self, hub: uuid.UUID | None = None) -> None:
        with self.db.read() as s:
            assert_ledger_consistent(s, hub)


def assert_ledger_consistent(s: Session, hub: uuid.UUID | None = None) -> None:
    """The ledger's invariants (docs/budget.md, "Invariants"), for every account (of
    ``hub``): the balances are the sums of the transfers' effects and of the monthly
    sums; none is negative; a line without an overdraft is below zero only through
    forced facts; a commitment has at most one live post or void, and ``committed`` is
    what the live commitments hold."""
    accounts = select(Account)
    if hub is not None:
        accounts = accounts.where(Account.hub_id == hub)
    from services.budget.operations import rules_of

    for account in s.scalars(accounts):
        sums = s.execute(
            select(
                *(func.coalesce(func.sum(getattr(Transfer, f"d_{n}")), 0) for n in BALANCES),
                func.count(),
                func.count().filter(Transfer.forced.is_(True)),
            ).where(Transfer.account_id == account.id)
        ).one()
        *totals, _n, forced = sums
        balances = [getattr(account, n) for n in BALANCES]
        assert [int(t) for t in totals] == balances, (account.line, totals, balances)
        monthly = s.execute(
            select(*(func.coalesce(func.sum(getattr(AccountMonth, n)), 0) for n in BALANCES)).where(
                AccountMonth.account_id == account.id
            )
        ).one()
        assert [int(m) for m in monthly] == balances, (account.line, monthly, balances)
        assert min(balances) >= 0, (account.line, balances)
        lenient = account.line in rules_of(s, account.hub_id).overdraft_lines or forced
        assert account.available >= 0 or lenient, (account.line, account.available)
        pendings = list(
            s.scalars(
                select(Transfer).where(
                    Transfer.account_id == account.id, Transfer.kind == "pending"
                )
            )
        )
        held = 0
        reversed_ids = set(
            s.scalars(
                select(Transfer.reverses_id).where(
                    Transfer.account_id == account.id, Transfer.reverses_id.is_not(None)
                )
            )
        )
        for pending in pendings:
            live = list(
                s.scalars(
                    select(Transfer.id).where(
                        Transfer.pending_id == pending.id, Transfer.kind.in_(("post", "void"))
                    )
                )
            )
            live = [t for t in live if t not in reversed_ids]
            assert len(live) <= 1, (pending.id, live)
            if not live:
                held += pending.amount_pence
        assert account.committed == held, (account.line, account.committed, held)


# -- event payloads (JSON form, as the producer's outbox holds them) -------------------------
def booking_ref(
    hub: uuid.UUID,
    event: uuid.UUID,
    booking: uuid.UUID | None = None,
    *,
    funding: str = "funded",
    price: int = 0,
) -> dict[str, Any]:
    return {
        "booking_id": str(booking or uuid.uuid4()),
        "session_id": str(uuid.uuid4()),
        "event_id": str(event),
        "hub_id": str(hub),
        "user_id": str(uuid.uuid4()),
        "funding": funding,
        "price_pence": price,
    }


def funding_requested(
    hub: uuid.UUID, event: uuid.UUID, booking: uuid.UUID | None = None, **more: Any
) -> dict[str, Any]:
    data = {
        **booking_ref(hub, event, booking),
        "setting_type": "childminder",
        "eligible_setting_types": [],
        "amount_pence": 5_000,
        "line": "training_delivery",
        "funded_places": 10,
        "starts_at": iso(STARTS),
        "requested_at": iso(datetime(2026, 5, 1, 12, 0, tzinfo=UTC)),
    }
    data.update(more)
    return data


def booking_cancelled(hub: uuid.UUID, event: uuid.UUID, booking: uuid.UUID) -> dict[str, Any]:
    return {
        **booking_ref(hub, event, booking),
        "previous_status": "confirmed",
        "cancelled_at": iso(datetime(2026, 5, 2, 12, 0, tzinfo=UTC)),
        "cancelled_by": "someone",
        "reason": None,
        "by_hub": False,
        "refund_pence": 0,
    }


def attendance(
    hub: uuid.UUID, event: uuid.UUID, booking: uuid.UUID, status: str, minute: int = 0
) -> dict[str, Any]:
    return {
        **booking_ref(hub, event, booking),
        "attended": status == "attended",
        "status": status,
        "cpd_hours": 2.0,
        "recorded_at": iso(datetime(2026, 6, 11, 9, minute, tzinfo=UTC)),
    }


def payment(hub: uuid.UUID, intent: str, amount: int = 2_500, **more: Any) -> dict[str, Any]:
    data = {
        **booking_ref(hub, uuid.uuid4(), funding="paid", price=amount),
        "currency": "gbp",
        "payment_intent": intent,
        "charge": f"ch_{intent}",
        "checkout_session": f"cs_{intent}",
        "amount_pence": amount,
        "paid_at": iso(datetime(2026, 7, 1, 10, 0, tzinfo=UTC)),
    }
    data.update(more)
    return data


def refund(hub: uuid.UUID, intent: str, refund_id: str, amount: int = 1_000) -> dict[str, Any]:
    data = payment(hub, intent, amount)
    del data["paid_at"]
    data.update(
        refund_id=refund_id,
        refunded_pence=amount,
        reason="requested_by_customer",
        refunded_at=iso(datetime(2026, 8, 3, 10, 0, tzinfo=UTC)),
    )
    return data


def meeting(hub: uuid.UUID, minutes: int, match: uuid.UUID | None = None) -> dict[str, Any]:
    return {
        "match_id": str(match or uuid.uuid4()),
        "hub_id": str(hub),
        "mentor_id": str(uuid.uuid4()),
        "minutes": minutes,
        "occurred_at": iso(datetime(2026, 9, 15, 14, 0, tzinfo=UTC)),
    }


FUNDING = booking_events.FUNDING_REQUESTED
CANCELLED = booking_events.BOOKING_CANCELLED
ATTENDANCE = booking_events.ATTENDANCE_RECORDED
PAID = booking_events.PAYMENT_SUCCEEDED
REFUNDED = booking_events.PAYMENT_REFUNDED
MEETING = mentoring_events.MEETING_LOGGED


# -- the app, once per module and backend ------------------------------------------------------
@contextmanager
def budget_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, **env: str
) -> Iterator[BudgetApp]:
    """A migrated budget app on the request's backend (``env``: settings overrides)."""
    _skip_unless_configured(request.param)
    folder: Path = tmp_path_factory.mktemp(f"budget-{request.param}")
    backend = Backend(request.param, folder / "data")
    backend.create()
    app = create_app(backend.settings(EYHUB_AUTO_MIGRATE="true", **env))
    install_test_verifier(app)
    rt = app.extensions["eyhub"]
    try:
        yield BudgetApp(app=app, db=rt.db, backend=request.param)
    finally:
        rt.db.dispose()
        backend.destroy()


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def budget(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BudgetApp]:
    with budget_app(request, tmp_path_factory) as app:
        yield app


@pytest.fixture
def hub() -> uuid.UUID:
    return uuid.uuid4()
