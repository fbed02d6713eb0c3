"""The ledger auditor, in TigerBeetle's spirit: random operations straight through
``services.budget.operations`` on SQLite, checked after every step.

A hypothesis state machine keeps its own model of what each account must hold and
drives allocations, spends, commitments, posts (whole and partial), voids, reversals,
card income and refunds (forced facts), overdraft switches, replays of earlier calls
(the same id and body: no effect; the same id with another body: 409), and a booking
saga whose request, cancellation and attendance arrive in any order, any number of
times. After every step, for every account of the hub:

- allocated + income - refunds = available + committed + spent, and each balance
  equals the sum of its transfers' effects and of its monthly sums (recomputed);
- no balance is negative, and available is negative only on a line that allowed an
  overdraft (it may have been taken away since) or through a forced fact; a refused
  operation changed nothing;
- each transfer id is applied at most once, each commitment has at most one live post
  or void, and ``committed`` is what the live commitments hold;
- the saga never holds more places than the event funds, and a booking cancelled
  before its request never holds money.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from services.budget import operations as ops
from services.budget.models import (
    ALLOCATION,
    BALANCES,
    HOLDS_A_PLACE,
    INCOME,
    PENDING,
    POST,
    REFUND,
    RESOLUTIONS,
    REVERSAL,
    SPEND,
    VOID,
    Account,
    AccountMonth,
    Effect,
    Funding,
    Transfer,
)
from shared.db import Database
from shared.problems import Problem
from tests.support.backends import Backend

YEARS = ("2026-27", "2027-28")
#: The lines the model predicts exactly (the saga runs on its own line).
LINES = ("training_delivery", "venue")
SAGA_LINE = "backfill"
SAGA_YEAR = "2026-27"
SAGA_PRICE = 5_000
SAGA_PLACES = 2
BOOKINGS = 3
ACCOUNTS = [(y, line) for y in YEARS for line in LINES]
#: What each account the model follows starts with.
START = 30_000

Key = tuple[str, str]


@dataclass
class Move:
    account: Key
    effect: Effect
    kind: str
    pending_id: uuid.UUID | None = None


@dataclass
class Pending:
    account: Key
    amount: int
    live: uuid.UUID | None = None


@dataclass
class Booking:
    id: uuid.UUID
    seen: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Call:
    """An operation as it was called, to call again (a duplicate delivery)."""

    fn: Callable[..., Any]
    kwargs: dict[str, Any]


class Auditor(RuleBasedStateMachine):
    transfers = Bundle("transfers")
    pendings = Bundle("pendings")

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db
        self.hub = uuid.uuid4()
        self.event = uuid.uuid4()
        self.balances: dict[Key, dict[str, int]] = {a: dict.fromkeys(BALANCES, 0) for a in ACCOUNTS}
        self.moves: dict[uuid.UUID, Move] = {}
        self.pending: dict[uuid.UUID, Pending] = {}
        self.reversed: set[uuid.UUID] = set()
        self.overdraft: set[str] = set()
        #: Lines that allowed an overdraft at some point: they may stay below zero.
        self.ever_overdrawn: set[str] = set()
        self.forced: set[Key] = set()
        self.calls: list[Call] = []
        self.bookings = [Booking(uuid.uuid4()) for _ in range(BOOKINGS)]
        # Some money on every line the model follows, so most movements go through
        # (allocations and overdrafts in the run add more, spends use it up).
        for account in ACCOUNTS:
            tid = uuid.uuid4()
            self.attempt(
                ops.allocate,
                dict(
                    hub_id=self.hub,
                    transfer_id=tid,
                    financial_year=account[0],
                    line=account[1],
                    amount=START,
                    source="opening",
                ),
                None,
            )
            self.record(tid, Move(account, Effect(allocated=START), ALLOCATION))
        # The saga's line has money for two of the three bookings, and two places.
        with db.transaction() as s:
            ops.allocate(
                s,
                self.hub,
                transfer_id=uuid.uuid4(),
                financial_year=SAGA_YEAR,
                line=SAGA_LINE,
                amount=2 * SAGA_PRICE + 1_000,
                source="saga",
            )

    # -- the model ------------------------------------------------------------------------
    def available(self, account: Key) -> int:
        b = self.balances[account]
        return b["allocated"] + b["income"] - b["refunds"] - b["committed"] - b["spent"]

    def overdraws(self, account: Key, effect: Effect) -> bool:
        before = self.available(account)
        after = before + effect.available
        return after < 0 and after < before and account[1] not in self.overdraft

    def record(self, tid: uuid.UUID, move: Move) -> None:
        assert tid not in self.moves
        self.moves[tid] = move
        for name in BALANCES:
            self.balances[move.account][name] += getattr(move.effect, name)

    def attempt(self, fn: Callable[..., Any], kwargs: dict[str, Any], refused: str | None) -> Any:
        """Run one operation in its own transaction; it must be refused (with that
        problem kind) exactly when the model says so."""
        try:
            with self.db.transaction() as s:
                result = fn(s, **kwargs)
        except Problem as problem:
            assert problem.kind == refused, (fn.__name__, problem.kind, refused, problem.detail)
            return None
        assert refused is None, (fn.__name__, "went through, expected", refused)
        self.calls.append(Call(fn, kwargs))
        return result

    # -- movements ---------------------------------------------------------------------------
    accounts = st.sampled_from(ACCOUNTS)
    amounts = st.integers(min_value=1, max_value=20_000)

    @rule(target=transfers, account=accounts, amount=amounts)
    def allocate(self, account: Key, amount: int) -> Any:
        tid = uuid.uuid4()
        kwargs = dict(
            hub_id=self.hub,
            transfer_id=tid,
            financial_year=account[0],
            line=account[1],
            amount=amount,
            source="grant",
        )
        transfer, created = self.attempt(ops.allocate, kwargs, None)
        assert created and transfer.id == tid
        self.record(tid, Move(account, Effect(allocated=amount), ALLOCATION))
        return tid

    @rule(target=transfers, account=accounts, amount=amounts)
    def spend(self, account: Key, amount: int) -> Any:
        tid, effect = uuid.uuid4(), Effect(spent=amount)
        refused = "insufficient-funds" if self.overdraws(account, effect) else None
        kwargs = dict(
            hub_id=self.hub,
            transfer_id=tid,
            line=account[1],
            amount=amount,
            description="spend",
            spent_on=date(int(account[0][:4]), 9, 1),
        )
        if self.attempt(ops.spend, kwargs, refused) is None:
            return multiple()
        self.record(tid, Move(account, effect, SPEND))
        return tid

    @rule(target=pendings, account=accounts, amount=amounts)
    def commit(self, account: Key, amount: int) -> Any:
        tid, effect = uuid.uuid4(), Effect(committed=amount)
        refused = "insufficient-funds" if self.overdraws(account, effect) else None
        kwargs = dict(
            hub_id=self.hub,
            transfer_id=tid,
            financial_year=account[0],
            line=account[1],
            amount=amount,
            booked_on=date(int(account[0][:4]), 5, 1),
            description="held",
        )
        if self.attempt(ops.commit, kwargs, refused) is None:
            return multiple()
        self.record(tid, Move(account, effect, PENDING))
        self.pending[tid] = Pending(account, amount)
        return tid

    @rule(target=transfers, pid=pendings, share=st.sampled_from([(0, 1), (1, 3), (1, 1)]))
    def post(self, pid: uuid.UUID, share: tuple[int, int]) -> Any:
        p, tid = self.pending[pid], uuid.uuid4()
        amount = p.amount * share[0] // share[1]
        refused = "already-resolved" if p.live is not None else None
        kwargs = dict(pending_id=pid, transfer_id=tid, amount=amount)
        if self.attempt(ops.post, kwargs, refused) is None:
            return multiple()
        self.record(tid, Move(p.account, Effect(committed=-p.amount, spent=amount), POST, pid))
        p.live = tid
        return tid

    @rule(target=transfers, pid=pendings)
    def void(self, pid: uuid.UUID) -> Any:
        p, tid = self.pending[pid], uuid.uuid4()
        refused = "already-resolved" if p.live is not None else None
        if self.attempt(ops.void, dict(pending_id=pid, transfer_id=tid), refused) is None:
            return multiple()
        self.record(tid, Move(p.account, Effect(committed=-p.amount), VOID, pid))
        p.live = tid
        return tid

    @rule(target=transfers, tid=st.one_of(transfers, pendings))
    def reverse(self, tid: uuid.UUID) -> Any:
        move = self.moves[tid]
        effect = move.effect.negated()
        if tid in self.reversed:  # asked again with the same note: the same reversal
            before = self.snapshot()
            with self.db.transaction() as s:
                again, created = ops.reverse(s, tid, note="correction")
            assert not created and again.reverses_id == tid
            assert self.snapshot() == before
            return multiple()
        if move.kind in (REVERSAL, PENDING):
            refused: str | None = "not-reversible"
        elif self.overdraws(move.account, effect):
            refused = "insufficient-funds"
        else:
            refused = None
        result = self.attempt(ops.reverse, dict(transfer_id=tid, note="correction"), refused)
        if result is None:
            return multiple()
        reversal, created = result
        assert created and reversal.reverses_id == tid
        self.record(reversal.id, Move(move.account, effect, REVERSAL))
        self.reversed.add(tid)
        if move.kind in RESOLUTIONS:
            assert move.pending_id is not None
            self.pending[move.pending_id].live = None
        return reversal.id

    @rule(
        year=st.sampled_from(YEARS),
        amount=amounts,
        kind=st.sampled_from([INCOME, REFUND]),
    )
    def card(self, year: str, amount: int, kind: str) -> None:
        """Card money in or out: facts, never refused (a refund may be forced)."""
        account = (year, ops.CARD_LINE)
        effect = Effect(income=amount) if kind == INCOME else Effect(refunds=amount)
        forced = self.overdraws(account, effect)
        fn = ops.record_income if kind == INCOME else ops.record_refund
        tid = uuid.uuid4()
        at = datetime(int(year[:4]), 11, 5, 12, 0, tzinfo=UTC)
        transfer, created = self.attempt(
            fn, dict(hub_id=self.hub, transfer_id=tid, amount=amount, at=at), None
        )
        assert created and transfer.forced == forced
        self.record(tid, Move(account, effect, kind))
        if forced:
            self.forced.add(account)

    @rule(line=st.sampled_from(LINES), allow=st.booleans())
    def overdraft_switch(self, line: str, allow: bool) -> None:
        wanted = (self.overdraft | {line}) if allow else (self.overdraft - {line})
        data = {
            "alert_thresholds": [80, 100],
            "overdraft_lines": sorted(wanted),
            "no_show_policy": "void",
            "mentor_hourly_rate_pence": None,
        }
        with self.db.transaction() as s:
            ops.save_settings(s, self.hub, data, by="auditor", now=datetime.now(UTC))
        self.overdraft = set(wanted)
        self.ever_overdrawn |= self.overdraft

    # -- duplicates and reuse ------------------------------------------------------------------
    @precondition(lambda self: self.calls)
    @rule(i=st.integers(min_value=0))
    def replay(self, i: int) -> None:
        """The same call again (a redelivery, a client retry): no effect at all."""
        call = self.calls[i % len(self.calls)]
        before = self.snapshot()
        with self.db.transaction() as s:
            result = call.fn(s, **call.kwargs)
        if isinstance(result, tuple):
            assert result[1] is False, call.fn.__name__
        assert self.snapshot() == before, call.fn.__name__

    @precondition(lambda self: any(c.fn is ops.allocate for c in self.calls))
    @rule(i=st.integers(min_value=0))
    def reuse_an_id(self, i: int) -> None:
        """An id already used, with another body: 409 and no effect."""
        used = [c for c in self.calls if c.fn is ops.allocate]
        call = used[i % len(used)]
        before = self.snapshot()
        other = {**call.kwargs, "amount": call.kwargs["amount"] + 1}
        with pytest.raises(Problem) as refused, self.db.transaction() as s:
            ops.allocate(s, **other)
        assert refused.value.kind == "transfer-id-reused"
        assert self.snapshot() == before

    # -- the booking saga, any order -------------------------------------------------------------
    @rule(
        which=st.integers(min_value=0, max_value=BOOKINGS - 1),
        what=st.sampled_from(["request", "cancel", "attended", "no_show"]),
        minute=st.integers(min_value=0, max_value=59),
    )
    def deliver(self, which: int, what: str, minute: int) -> None:
        booking = self.bookings[which]
        ref = {
            "booking_id": booking.id,
            "session_id": uuid.uuid4(),
            "event_id": self.event,
            "hub_id": self.hub,
            "user_id": "u",
            "funding": "funded",
            "price_pence": 0,
        }
        if what == "request":
            fn, data = (
                ops.request_funding,
                {
                    **ref,
                    "setting_type": "nursery",
                    "eligible_setting_types": [],
                    "amount_pence": SAGA_PRICE,
                    "line": SAGA_LINE,
                    "funded_places": SAGA_PLACES,
                    "starts_at": datetime(2026, 6, 1, 9, 0, tzinfo=UTC),
                    "requested_at": datetime(2026, 5, 1, 9, 0, tzinfo=UTC),
                },
            )
        elif what == "cancel":
            fn, data = (
                ops.cancel_funding,
                {
                    **ref,
                    "cancelled_at": datetime(2026, 5, 2, 9, 0, tzinfo=UTC),
                },
            )
        else:
            fn, data = (
                ops.record_attendance,
                {
                    **ref,
                    "status": what,
                    "attended": what == "attended",
                    "recorded_at": datetime(2026, 6, 1, 12, minute, tzinfo=UTC),
                },
            )
        self.attempt(fn, {"data": data}, None)
        booking.seen.append(what)

    # -- invariants ----------------------------------------------------------------------------
    def snapshot(self) -> tuple[Any, ...]:
        with self.db.read() as s:
            balances = s.execute(
                select(
                    Account.financial_year, Account.line, *(getattr(Account, n) for n in BALANCES)
                )
                .where(Account.hub_id == self.hub)
                .order_by(Account.financial_year, Account.line)
            ).all()
            count = s.scalar(
                select(func.count()).select_from(Transfer).where(Transfer.hub_id == self.hub)
            )
        return tuple(balances), count

    @invariant()
    def the_books_balance(self) -> None:
        hub = self.hub
        with self.db.read() as s:
            accounts = {
                (a.financial_year, a.line): a
                for a in s.scalars(select(Account).where(Account.hub_id == hub))
            }
            sums = {
                (y, line): rest
                for y, line, *rest in s.execute(
                    select(
                        Transfer.financial_year,
                        Transfer.line,
                        *(func.sum(getattr(Transfer, f"d_{n}")) for n in BALANCES),
                        func.count().filter(Transfer.forced.is_(True)),
                    )
                    .where(Transfer.hub_id == hub)
                    .group_by(Transfer.financial_year, Transfer.line)
                )
            }
            monthly = {
                (y, line): rest
                for y, line, *rest in s.execute(
                    select(
                        AccountMonth.financial_year,
                        Account.line,
                        *(func.sum(getattr(AccountMonth, n)) for n in BALANCES),
                    )
                    .join(Account, Account.id == AccountMonth.account_id)
                    .where(AccountMonth.hub_id == hub)
                    .group_by(AccountMonth.financial_year, Account.line)
                )
            }
            moves = s.execute(
                select(
                    Transfer.id,
                    Transfer.kind,
                    Transfer.pending_id,
                    Transfer.reverses_id,
                    Transfer.amount_pence,
                    Transfer.financial_year,
                    Transfer.line,
                ).where(Transfer.hub_id == hub)
            ).all()
            places = s.scalar(
                select(func.count())
                .select_from(Funding)
                .where(Funding.event_id == self.event, Funding.status.in_(HOLDS_A_PLACE))
            )
            fundings = {
                f.booking_id: f for f in s.scalars(select(Funding).where(Funding.hub_id == hub))
            }
        reversed_ids = {m.reverses_id for m in moves if m.reverses_id is not None}
        held: dict[Key, int] = {}
        for m in moves:
            if m.kind != PENDING:
                continue
            live = [
                r.id
                for r in moves
                if r.pending_id == m.id and r.kind in RESOLUTIONS and r.id not in reversed_ids
            ]
            assert len(live) <= 1, (m.id, live)
            if not live:
                key = (m.financial_year, m.line)
                held[key] = held.get(key, 0) + m.amount_pence
        for key, account in accounts.items():
            balances = [getattr(account, n) for n in BALANCES]
            *totals, forced = sums.get(key, [0] * (len(BALANCES) + 1))
            assert [int(t or 0) for t in totals] == balances, (key, totals, balances)
            month_totals = monthly.get(key, [0] * len(BALANCES))
            assert [int(t or 0) for t in month_totals] == balances, (key, month_totals, balances)
            assert min(balances) >= 0, (key, balances)
            assert account.allocated + account.income - account.refunds == (
                account.available + account.committed + account.spent
            )
            lenient = account.line in self.ever_overdrawn or forced
            assert account.available >= 0 or lenient, (key, account.available)
            assert account.committed == held.get(key, 0), (key, account.committed, held)
            if key in self.balances:
                assert dict(zip(BALANCES, balances, strict=True)) == self.balances[key], key
        for key, expected in self.balances.items():
            if key not in accounts:
                assert not any(expected.values()), key
        model_ids = {m.id for m in moves if (m.financial_year, m.line) in self.balances}
        assert model_ids == set(self.moves), "every transfer applied once, none lost"
        assert (places or 0) <= SAGA_PLACES
        for booking in self.bookings:
            if booking.seen[:1] == ["cancel"]:
                row = fundings.get(booking.id)
                assert row is not None and row.pending_transfer_id is None, booking.seen


@pytest.fixture(scope="module")
def ledger_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    backend = Backend("embedded", Path(tmp_path_factory.mktemp("auditor")) / "data")
    backend.create()
    db = Database(backend.settings().database_url("budget"), name="budget")
    try:
        yield db
    finally:
        db.dispose()
        backend.destroy()


def test_the_ledger_auditor(ledger_db: Database) -> None:
    run_state_machine_as_test(
        lambda: Auditor(ledger_db),
        settings=settings(
            max_examples=12,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
