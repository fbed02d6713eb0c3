"""Every state change of the budget service: the API and the bus handlers call these.

The ledger (docs/budget.md) follows TigerBeetle's model: money moves only through
immutable transfers with an id chosen by the client (or derived from what caused them:
a booking, a payment intent, a refund, a meeting), so applying the same thing twice is
a no-op; a correction is a new reversing transfer, never an edit. Each transfer carries
its effect on the five balances of its account, and the account row holds their sums.

Concurrency rule: a transfer changes its account row under that row's lock
(``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite every write transaction holds the
write lock from ``BEGIN IMMEDIATE``), in the transaction that inserts the transfer, the
monthly sums and any alert. The funding saga (a booking's request, cancellation and
attendance) first locks the catalogue event's row in ``event_locks``, so requests for
one event take turns and its funded places are counted exactly; then the account. The
order is always event, then account, so two transactions never wait on each other in a
cycle.

Guarded and forced movements: whatever a hub lead asks for through the API, and every
funding commitment, is *guarded*: if it would take a line's available money below zero
(or further below) without an overdraft on that line, it is refused (409, or the
request declines) and nothing changes. Facts that already happened elsewhere — a card
refund, a logged mentoring meeting, an attendance correction that turns a released
place back into spend — are *forced*: recorded even so, and flagged ``forced`` on the
transfer, because refusing them would make the ledger lie.

Functions taking a ``Session`` run inside the caller's transaction (a bus handler's, or
one of the ``api_*`` wrappers below, which open theirs).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import bindparam, exists, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value

from services.budget import publishing, years
from services.budget.models import (
    ALLOCATION,
    AWAITING,
    BALANCES,
    CANCELLED,
    COMMITTED,
    DECLINED,
    DEFAULT_NO_SHOW_POLICY,
    DEFAULT_THRESHOLDS,
    HOLDS_A_PLACE,
    INCOME,
    PENDING,
    POST,
    POSTED,
    REFUND,
    RESOLUTIONS,
    REVERSAL,
    SPEND,
    VOID,
    VOIDED,
    Account,
    AccountMonth,
    Alert,
    Effect,
    EventLock,
    Funding,
    HubSettings,
    Resolution,
    Transfer,
)
from shared.auth import Identity
from shared.db import Database, new_id, utcnow
from shared.problems import Problem

#: The line card income and refunds are booked on: card fees pay for delivering the
#: training the card paid for (a payment event names no line).
CARD_LINE = "training_delivery"
#: Namespace of the ids derived from what caused a transfer (uuid5).
ID_NAMESPACE = uuid.UUID("5b0f6c1e-2f55-4d7c-9a51-6b7564676574")

T = TypeVar("T")


# -- problems --------------------------------------------------------------------------
def not_found(what: str) -> Problem:
    return Problem(404, "Not found", f"No such {what}.", kind="not-found")


def forbidden(detail: str) -> Problem:
    return Problem(403, "Forbidden", detail, kind="forbidden")


def conflict(detail: str, kind: str = "conflict") -> Problem:
    return Problem(409, "Conflict", detail, kind=kind)


def insufficient(account: Account, needed: int) -> Problem:
    return conflict(
        f"Not enough money on {account.line} for {account.financial_year}: "
        f"{_pounds(account.available)} available, {_pounds(needed)} needed. "
        "Add an allocation, or allow an overdraft on this line in the hub's settings.",
        kind="insufficient-funds",
    )


def id_reused() -> Problem:
    return conflict(
        "This transfer id was already used with a different body.", kind="transfer-id-reused"
    )


def require_lead(who: Identity, hub_id: uuid.UUID | str) -> None:
    if not who.leads_hub(hub_id):
        raise forbidden("You do not lead this hub.")


def _pounds(pence: int) -> str:
    sign = "-" if pence < 0 else ""
    return f"{sign}£{abs(pence) // 100:,}.{abs(pence) % 100:02d}"


# -- ids and fingerprints -------------------------------------------------------------------
def derived_id(*parts: object) -> uuid.UUID:
    """The id of a transfer caused by something else (a booking, a payment intent...):
    the same cause always gives the same id, so a duplicate is a no-op."""
    return uuid.uuid5(ID_NAMESPACE, ":".join(str(p) for p in parts))


def fingerprint(**facts: Any) -> str:
    """What defines a transfer, hashed: the same id must come with the same facts."""
    text = json.dumps(facts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# -- hub rules -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Rules:
    """A hub's settings (defaults when it has saved none)."""

    alert_thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS
    overdraft_lines: frozenset[str] = frozenset()
    no_show_policy: str = DEFAULT_NO_SHOW_POLICY
    mentor_hourly_rate_pence: int | None = None


#: ``Session.info`` key: hubs known (in this transaction) to have no saved settings.
_NO_SETTINGS = "budget_hubs_without_settings"


def rules_of(s: Session, hub_id: uuid.UUID) -> Rules:
    if hub_id in s.info.get(_NO_SETTINGS, ()):
        return Rules()
    row = s.get(HubSettings, hub_id)  # usually loaded already, with the account's lock
    if row is None:
        return Rules()
    return Rules(
        alert_thresholds=tuple(sorted(row.alert_thresholds)),
        overdraft_lines=frozenset(row.overdraft_lines),
        no_show_policy=row.no_show_policy,
        mentor_hourly_rate_pence=row.mentor_hourly_rate_pence,
    )


def save_settings(
    s: Session, hub_id: uuid.UUID, data: dict[str, Any], *, by: str | None, now: datetime
) -> HubSettings:
    """Replace a hub's settings. Thresholds already raised stay raised; a new one is
    checked at the line's next movement."""
    row = s.get(HubSettings, hub_id, with_for_update=True)
    if row is None:
        row = HubSettings(hub_id=hub_id)
        s.add(row)
    s.info.get(_NO_SETTINGS, set()).discard(hub_id)
    row.alert_thresholds = sorted(set(data["alert_thresholds"]))
    row.overdraft_lines = sorted(set(data["overdraft_lines"]))
    row.no_show_policy = data["no_show_policy"]
    row.mentor_hourly_rate_pence = data["mentor_hourly_rate_pence"]
    row.updated_at = now
    row.updated_by = by
    s.flush()
    return row


# -- locks ---------------------------------------------------------------------------------
def _insert(s: Session) -> Any:
    return pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert


def _locked(s: Session, *where: Any) -> Account | None:
    """The account matching ``where``, locked and fresh, with its hub's settings loaded
    in the same round trip (``rules_of`` then needs no query)."""
    found = s.execute(
        select(Account, HubSettings)
        .outerjoin(HubSettings, HubSettings.hub_id == Account.hub_id)
        .where(*where)
        .with_for_update(of=Account)
        .execution_options(populate_existing=True)
    ).first()
    if found is None:
        return None
    account, settings = found
    if settings is None:
        s.info.setdefault(_NO_SETTINGS, set()).add(account.hub_id)
    return account


def lock_account(
    s: Session, hub_id: uuid.UUID, financial_year: str, line: str, *, create: bool = True
) -> Account | None:
    """The account, locked for the rest of the transaction (created on first use)."""
    where = (
        Account.hub_id == hub_id,
        Account.financial_year == financial_year,
        Account.line == line,
    )
    row = _locked(s, *where)
    if row is None and create:
        now = utcnow()
        s.execute(
            _insert(s)(Account)
            .values(
                id=new_id(),
                hub_id=hub_id,
                financial_year=financial_year,
                line=line,
                allocated=0,
                committed=0,
                spent=0,
                income=0,
                refunds=0,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing()
        )
        row = _locked(s, *where)
    return row


def _lock_account_of(s: Session, transfer: Transfer) -> Account:
    row = _locked(s, Account.id == transfer.account_id)
    assert row is not None
    return row


def lock_event(s: Session, event_id: uuid.UUID) -> None:
    """Take the event's turn for the rest of the transaction (creating its row once)."""
    query = select(EventLock.event_id).where(EventLock.event_id == event_id).with_for_update()
    if s.scalar(query) is None:
        s.execute(_insert(s)(EventLock).values(event_id=event_id).on_conflict_do_nothing())
        s.execute(query)


# -- applying a transfer ----------------------------------------------------------------------
def _replay(
    s: Session, transfer_id: uuid.UUID, print_: str, *, strict: bool = True
) -> Transfer | None:
    """The transfer already stored under this id (None: new). ``strict``: it must have
    been made from the same facts, else 409; a derived id's first version simply wins."""
    row = s.get(Transfer, transfer_id)
    if row is not None and strict and row.fingerprint != print_:
        raise id_reused()
    return row


def _apply(
    s: Session,
    account: Account,
    *,
    transfer_id: uuid.UUID,
    kind: str,
    amount: int,
    effect: Effect,
    guarded: bool,
    print_: str,
    booked_on: date,
    now: datetime,
    rules: Rules | None = None,
    **details: Any,
) -> Transfer:
    """Write one transfer and its effect on the (locked) account, monthly sums and alerts.

    A guarded transfer that would leave the line's available money below zero, and lower
    than before, without an overdraft on the line, is refused before anything changes.
    """
    balances = {name: getattr(account, name) + getattr(effect, name) for name in BALANCES}
    negative = [name for name, value in balances.items() if value < 0]
    if negative:  # cannot happen through these functions: each is checked for it
        raise conflict(f"This would make {', '.join(negative)} negative.", kind="ledger-rule")
    rules = rules or rules_of(s, account.hub_id)
    before = account.available
    after = before + effect.available
    forced = False
    if after < 0 and after < before and account.line not in rules.overdraft_lines:
        if guarded:
            raise insufficient(account, -effect.available)
        forced = True
    day = years.within(booked_on, account.financial_year)
    values = {
        "id": transfer_id,
        "account_id": account.id,
        "hub_id": account.hub_id,
        "financial_year": account.financial_year,
        "line": account.line,
        "kind": kind,
        "amount_pence": amount,
        **{f"d_{name}": getattr(effect, name) for name in BALANCES},
        "booked_on": day,
        "month": years.month_of(day),
        "forced": forced,
        "fingerprint": print_,
        "created_at": _stamp(s, now),
        **details,
    }
    # Core statements built once (the hot path of every movement); the account object
    # is kept in step with what was written.
    conn = s.connection()
    conn.execute(_INSERT_TRANSFER, values)
    conn.execute(
        _month_upsert(conn.dialect.name),
        {
            "account_id": account.id,
            "month": values["month"],
            "hub_id": account.hub_id,
            "financial_year": account.financial_year,
            **{name: getattr(effect, name) for name in BALANCES},
        },
    )
    conn.execute(
        _UPDATE_ACCOUNT,
        {"b_id": account.id, "b_updated_at": now, **{f"b_{n}": v for n, v in balances.items()}},
    )
    for name, value in balances.items():
        set_committed_value(account, name, value)
    set_committed_value(account, "updated_at", now)
    if effect.used > 0 or effect.allocated < 0:
        _raise_alerts(s, account, rules, now)
    return Transfer(**values)  # what was written (the row itself is in the database)


def _stamp(s: Session, now: datetime) -> datetime:
    """``now``, made later than the transaction's previous transfer if need be: the
    movements of one operation (a reversal, then a post) list in the order written."""
    last = s.info.get("budget_last_stamp")
    stamp = now if last is None or now > last else last + timedelta(microseconds=1)
    s.info["budget_last_stamp"] = stamp
    return stamp


_INSERT_TRANSFER = insert(Transfer)
_UPDATE_ACCOUNT = (
    update(Account)
    .where(Account.id == bindparam("b_id"))
    .values(
        {
            **{name: bindparam(f"b_{name}") for name in BALANCES},
            "updated_at": bindparam("b_updated_at"),
        }
    )
)
_MONTH_UPSERTS: dict[str, Any] = {}


def _month_upsert(dialect: str) -> Any:
    """Add a transfer's effect to its account's month (one statement, built once)."""
    statement = _MONTH_UPSERTS.get(dialect)
    if statement is None:
        ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(AccountMonth)
        statement = _MONTH_UPSERTS[dialect] = ins.on_conflict_do_update(
            index_elements=[AccountMonth.account_id, AccountMonth.month],
            set_={
                name: getattr(AccountMonth, name) + getattr(ins.excluded, name) for name in BALANCES
            },
        )
    return statement


def _raise_alerts(s: Session, account: Account, rules: Rules, now: datetime) -> None:
    """Raise each threshold the line's committed + spent money has reached, once ever."""
    used = account.used
    if used <= 0:
        return
    crossed = [t for t in rules.alert_thresholds if used * 100 >= t * account.allocated]
    if not crossed:
        return
    raised = set(
        s.scalars(
            select(Alert.threshold_percent).where(
                Alert.hub_id == account.hub_id,
                Alert.financial_year == account.financial_year,
                Alert.line == account.line,
            )
        )
    )
    for threshold in crossed:
        if threshold in raised:
            continue
        s.add(
            Alert(
                hub_id=account.hub_id,
                financial_year=account.financial_year,
                line=account.line,
                threshold_percent=threshold,
                allocated_pence=account.allocated,
                used_pence=used,
                raised_at=now,
            )
        )
        publishing.alert_raised(s, account, threshold, now)


# -- the movements ----------------------------------------------------------------------------
def _record_new(
    s: Session,
    hub_id: uuid.UUID,
    financial_year: str,
    line: str,
    *,
    transfer_id: uuid.UUID,
    print_: str,
    strict: bool = True,
    **apply: Any,
) -> tuple[Transfer, bool]:
    """Lock the line's account; a transfer id already applied is replayed (409 if its body
    differs), a new one applied. Returns the transfer and whether it is new."""
    account = lock_account(s, hub_id, financial_year, line)
    assert account is not None
    old = _replay(s, transfer_id, print_, strict=strict)
    if old is not None:
        return old, False
    return _apply(s, account, transfer_id=transfer_id, print_=print_, **apply), True


def allocate(
    s: Session,
    hub_id: uuid.UUID,
    *,
    transfer_id: uuid.UUID,
    financial_year: str,
    line: str,
    amount: int,
    source: str,
    note: str | None = None,
    by: str | None = None,
    now: datetime | None = None,
) -> tuple[Transfer, bool]:
    """Money in (a grant): returns the transfer and whether it is new."""
    now = now or utcnow()
    print_ = fingerprint(
        kind=ALLOCATION,
        hub=hub_id,
        year=financial_year,
        line=line,
        amount=amount,
        source=source,
        note=note,
    )
    return _record_new(
        s,
        hub_id,
        financial_year,
        line,
        transfer_id=transfer_id,
        print_=print_,
        kind=ALLOCATION,
        amount=amount,
        effect=Effect(allocated=amount),
        guarded=True,
        booked_on=years.london_date(now),
        now=now,
        source=source,
        note=note,
        created_by=by,
        origin="api",
    )


def spend(
    s: Session,
    hub_id: uuid.UUID,
    *,
    transfer_id: uuid.UUID,
    line: str,
    amount: int,
    description: str,
    spent_on: date,
    reference: str | None = None,
    by: str | None = None,
    now: datetime | None = None,
    origin: str = "api",
    guarded: bool = True,
    strict: bool = True,
    match_id: uuid.UUID | None = None,
) -> tuple[Transfer, bool]:
    """Actual spend charged to the financial year of ``spent_on``."""
    now = now or utcnow()
    financial_year = years.financial_year_of(spent_on)
    print_ = fingerprint(
        kind=SPEND,
        hub=hub_id,
        line=line,
        amount=amount,
        description=description,
        spent_on=spent_on,
        reference=reference,
    )
    return _record_new(
        s,
        hub_id,
        financial_year,
        line,
        transfer_id=transfer_id,
        print_=print_,
        strict=strict,
        kind=SPEND,
        amount=amount,
        effect=Effect(spent=amount),
        guarded=guarded,
        booked_on=spent_on,
        now=now,
        description=description,
        reference=reference,
        created_by=by,
        origin=origin,
        match_id=match_id,
    )


def commit(
    s: Session,
    hub_id: uuid.UUID,
    *,
    transfer_id: uuid.UUID,
    financial_year: str,
    line: str,
    amount: int,
    booked_on: date,
    description: str,
    by: str | None = None,
    now: datetime | None = None,
    origin: str = "api",
    booking_id: uuid.UUID | None = None,
    event_id: uuid.UUID | None = None,
    rules: Rules | None = None,
) -> tuple[Transfer, bool]:
    """A pending transfer: money held for a commitment until it is posted or voided.
    Always guarded."""
    now = now or utcnow()
    print_ = fingerprint(
        kind=PENDING,
        hub=hub_id,
        year=financial_year,
        line=line,
        amount=amount,
        booking=booking_id,
    )
    return _record_new(
        s,
        hub_id,
        financial_year,
        line,
        transfer_id=transfer_id,
        print_=print_,
        kind=PENDING,
        amount=amount,
        effect=Effect(committed=amount),
        guarded=True,
        booked_on=booked_on,
        now=now,
        rules=rules,
        description=description,
        created_by=by,
        origin=origin,
        booking_id=booking_id,
        event_id=event_id,
    )


def live_resolution(s: Session, pending_id: uuid.UUID) -> Transfer | None:
    """The post or void that currently resolves a pending transfer (not reversed)."""
    reversal = aliased(Transfer)
    return s.scalar(
        select(Transfer).where(
            Transfer.pending_id == pending_id,
            Transfer.kind.in_(RESOLUTIONS),
            ~exists().where(reversal.reverses_id == Transfer.id),
        )
    )


def _pending(s: Session, pending_id: uuid.UUID) -> Transfer:
    pending = s.get(Transfer, pending_id)
    if pending is None:
        raise not_found("pending transfer")
    if pending.kind != PENDING:
        raise conflict(f"Transfer {pending_id} is a {pending.kind}, not pending.", "wrong-kind")
    return pending


def _resolve(
    s: Session,
    pending_id: uuid.UUID,
    *,
    kind: str,
    transfer_id: uuid.UUID,
    amount: int | None,
    note: str | None,
    by: str | None,
    now: datetime | None,
    origin: str,
) -> tuple[Transfer, bool]:
    now = now or utcnow()
    pending = _pending(s, pending_id)
    account = _lock_account_of(s, pending)
    held = pending.amount_pence
    amount = held if amount is None or kind == VOID else amount
    if not 0 <= amount <= held:
        raise Problem(
            422,
            "Invalid request",
            f"A post can spend at most the {_pounds(held)} held.",
            kind="validation",
            errors={"amount_pence": [f"Must be between 0 and {held}."]},
        )
    print_ = fingerprint(kind=kind, pending=pending_id, amount=amount, note=note)
    old = _replay(s, transfer_id, print_)
    if old is not None:
        return old, False
    if live_resolution(s, pending_id) is not None:
        raise conflict("This commitment was already posted or voided.", "already-resolved")
    effect = Effect(committed=-held, spent=amount if kind == POST else 0)
    row = _apply(
        s,
        account,
        transfer_id=transfer_id,
        kind=kind,
        amount=amount,
        effect=effect,
        guarded=False,
        print_=print_,
        booked_on=years.london_date(now),
        now=now,
        pending_id=pending_id,
        note=note,
        created_by=by,
        origin=origin,
        booking_id=pending.booking_id,
        event_id=pending.event_id,
        description=pending.description,
    )
    _sync_funding(s, pending)
    return row, True


def post(
    s: Session,
    pending_id: uuid.UUID,
    *,
    transfer_id: uuid.UUID,
    amount: int | None = None,
    note: str | None = None,
    by: str | None = None,
    now: datetime | None = None,
    origin: str = "api",
) -> tuple[Transfer, bool]:
    """Turn a commitment into spend: ``amount`` (default all of it) is spent, the rest of
    what was held released. Never lowers the available money."""
    return _resolve(
        s,
        pending_id,
        kind=POST,
        transfer_id=transfer_id,
        amount=amount,
        note=note,
        by=by,
        now=now,
        origin=origin,
    )


def void(
    s: Session,
    pending_id: uuid.UUID,
    *,
    transfer_id: uuid.UUID,
    note: str | None = None,
    by: str | None = None,
    now: datetime | None = None,
    origin: str = "api",
) -> tuple[Transfer, bool]:
    """Release a commitment whole."""
    return _resolve(
        s,
        pending_id,
        kind=VOID,
        transfer_id=transfer_id,
        amount=None,
        note=note,
        by=by,
        now=now,
        origin=origin,
    )


def record_income(
    s: Session,
    hub_id: uuid.UUID,
    *,
    transfer_id: uuid.UUID,
    amount: int,
    at: datetime,
    now: datetime | None = None,
    **details: Any,
) -> tuple[Transfer, bool]:
    """Card money in, on ``CARD_LINE`` in the financial year it was paid."""
    now = now or utcnow()
    account = lock_account(s, hub_id, years.financial_year_at(at), CARD_LINE)
    assert account is not None
    old = s.get(Transfer, transfer_id)
    if old is not None:
        return old, False
    print_ = fingerprint(kind=INCOME, hub=hub_id, amount=amount, **details)
    row = _apply(
        s,
        account,
        transfer_id=transfer_id,
        kind=INCOME,
        amount=amount,
        effect=Effect(income=amount),
        guarded=False,
        print_=print_,
        booked_on=years.london_date(at),
        now=now,
        origin="bookings",
        **details,
    )
    return row, True


def record_refund(
    s: Session,
    hub_id: uuid.UUID,
    *,
    transfer_id: uuid.UUID,
    amount: int,
    at: datetime,
    now: datetime | None = None,
    **details: Any,
) -> tuple[Transfer, bool]:
    """Card money back out, on ``CARD_LINE`` in the financial year it was refunded (the
    same whether or not the payment was seen first). A fact: forced."""
    now = now or utcnow()
    account = lock_account(s, hub_id, years.financial_year_at(at), CARD_LINE)
    assert account is not None
    old = s.get(Transfer, transfer_id)
    if old is not None:
        return old, False
    print_ = fingerprint(kind=REFUND, hub=hub_id, amount=amount, **details)
    row = _apply(
        s,
        account,
        transfer_id=transfer_id,
        kind=REFUND,
        amount=amount,
        effect=Effect(refunds=amount),
        guarded=False,
        print_=print_,
        booked_on=years.london_date(at),
        now=now,
        origin="bookings",
        **details,
    )
    return row, True


#: Kinds a hub lead may reverse through the API; commitments and their posts and voids
#: follow the booking (attendance and cancellation in bookings correct them).
API_REVERSIBLE = (ALLOCATION, SPEND, INCOME, REFUND)


def reverse(
    s: Session,
    transfer_id: uuid.UUID,
    *,
    note: str,
    reversal_id: uuid.UUID | None = None,
    hub_id: uuid.UUID | None = None,
    by: str | None = None,
    now: datetime | None = None,
    origin: str = "api",
    guarded: bool = True,
    kinds: tuple[str, ...] = (*API_REVERSIBLE, *RESOLUTIONS),
) -> tuple[Transfer, bool]:
    """A correction: a new transfer with the exact opposite effect of ``transfer_id``.

    Each transfer is reversed at most once; the reversal's id is derived from the
    original unless given, so asking twice with the same note is a no-op. Reversing a
    post or void makes its commitment pending again (then post or void it anew). A
    pending transfer is released by a void, not reversed; a reversal is not reversed
    (record a new transfer instead).
    """
    now = now or utcnow()
    original = s.get(Transfer, transfer_id)
    if original is None or (hub_id is not None and original.hub_id != hub_id):
        raise not_found("transfer")
    reversal_id = reversal_id or derived_id("reversal", original.id)
    print_ = fingerprint(kind=REVERSAL, reverses=original.id, note=note)
    account = _lock_account_of(s, original)
    old = s.get(Transfer, reversal_id)
    if old is not None:
        if old.fingerprint == print_:
            return old, False
        if old.reverses_id == original.id:
            raise conflict("This transfer was already reversed.", "already-reversed")
        raise id_reused()
    if original.kind == REVERSAL:
        raise conflict("A reversal cannot be reversed: record a new transfer.", "not-reversible")
    if original.kind == PENDING:
        raise conflict("A commitment is released by voiding it, not reversed.", "not-reversible")
    if original.kind not in kinds:
        raise conflict(
            "Commitments for bookings follow the booking: correct its attendance or "
            "cancel it in bookings.",
            "not-reversible",
        )
    if s.scalar(select(Transfer.id).where(Transfer.reverses_id == original.id)) is not None:
        raise conflict("This transfer was already reversed.", "already-reversed")
    row = _apply(
        s,
        account,
        transfer_id=reversal_id,
        kind=REVERSAL,
        amount=original.amount_pence,
        effect=original.effect.negated(),
        guarded=guarded,
        print_=print_,
        booked_on=years.london_date(now),
        now=now,
        reverses_id=original.id,
        note=note,
        created_by=by,
        origin=origin,
        booking_id=original.booking_id,
        event_id=original.event_id,
        match_id=original.match_id,
        payment_intent=original.payment_intent,
        charge=original.charge,
        refund_id=original.refund_id,
        checkout_session=original.checkout_session,
        description=original.description,
    )
    if original.pending_id is not None:
        pending = s.get(Transfer, original.pending_id)
        if pending is not None:
            _sync_funding(s, pending)
    return row, True


# -- the funding saga ---------------------------------------------------------------------------
DECLINE_DETAILS = {
    "no_funded_places": "All the funded places for this event have been taken.",
    "insufficient_funds": (
        "The hub's budget for this training cannot cover another funded place at the moment."
    ),
    "not_eligible": "Funded places for this event are for other kinds of setting.",
    "no_allocation": "The hub has no funding for this training in that financial year.",
    "booking_cancelled": "The booking was cancelled before its funding was decided.",
}


def _locked_funding(s: Session, booking_id: uuid.UUID) -> Funding | None:
    return s.get(Funding, booking_id, with_for_update=True, populate_existing=True)


def _new_funding(data: dict[str, Any], status: str, now: datetime) -> Funding:
    return Funding(
        booking_id=data["booking_id"],
        hub_id=data["hub_id"],
        event_id=data["event_id"],
        session_id=data.get("session_id"),
        status=status,
        posted_pence=0,
        created_at=now,
        updated_at=now,
    )


def _sync_funding(s: Session, pending: Transfer) -> None:
    """The saga row follows the ledger: committed, posted (how much) or voided."""
    if pending.booking_id is None:
        return
    row = s.get(Funding, pending.booking_id)
    if row is None or row.pending_transfer_id != pending.id:
        return
    live = live_resolution(s, pending.id)
    row.status = COMMITTED if live is None else POSTED if live.kind == POST else VOIDED
    row.posted_pence = live.amount_pence if live is not None and live.kind == POST else 0
    row.updated_at = utcnow()


def _places_taken(s: Session, event_id: uuid.UUID) -> int:
    return (
        s.scalar(
            select(func.count())
            .select_from(Funding)
            .where(Funding.event_id == event_id, Funding.status.in_(HOLDS_A_PLACE))
        )
        or 0
    )


def _refusal(s: Session, row: Funding, data: dict[str, Any], rules: Rules) -> str | None:
    """Why this request is declined, checked in this order; None: it can be committed."""
    if row.status == CANCELLED:
        return "booking_cancelled"
    eligible = data["eligible_setting_types"]
    if eligible and data.get("setting_type") not in eligible:
        return "not_eligible"
    if _places_taken(s, row.event_id) >= data["funded_places"]:
        return "no_funded_places"
    if data["amount_pence"] == 0:
        return None  # a funded place that costs nothing needs no money, only a place
    account = lock_account(s, row.hub_id, row.financial_year or "", row.line or "", create=False)
    if account is None or (account.allocated == 0 and account.income == 0):
        return "no_allocation"
    short = account.available < data["amount_pence"]
    if short and account.line not in rules.overdraft_lines:
        return "insufficient_funds"
    return None


def _answer(s: Session, row: Funding) -> None:
    if row.pending_transfer_id is not None:
        publishing.funding_committed(s, row, row.pending_transfer_id)
    else:
        publishing.funding_declined(s, row)


def request_funding(s: Session, data: dict[str, Any], *, now: datetime | None = None) -> Funding:
    """``bookings.funding.requested``: commit the money (a pending transfer whose id is
    derived from the booking) or decline with a reason; either way answer on the bus.

    Asked again for a booking already decided (a new message), the same answer is given
    again and nothing else changes. A cancellation that came first left a tombstone: the
    request declines with ``booking_cancelled`` and never commits.
    """
    now = now or utcnow()
    lock_event(s, data["event_id"])
    row = _locked_funding(s, data["booking_id"])
    if row is not None and row.status not in (AWAITING, CANCELLED):
        _answer(s, row)
        return row
    if row is None:
        row = _new_funding(data, AWAITING, now)
        s.add(row)
    row.session_id = data.get("session_id")
    row.line = data["line"]
    row.financial_year = years.financial_year_at(data["starts_at"])
    row.amount_pence = data["amount_pence"]
    row.requested_at = data["requested_at"]
    row.updated_at = now
    rules = rules_of(s, row.hub_id)
    reason = _refusal(s, row, data, rules)
    if reason is not None:
        row.status = DECLINED
        row.reason = reason
        row.detail = DECLINE_DETAILS[reason]
        publishing.funding_declined(s, row)
        return row
    pending, _ = commit(
        s,
        row.hub_id,
        transfer_id=derived_id("funding", row.booking_id),
        financial_year=row.financial_year,
        line=row.line,
        amount=row.amount_pence,
        booked_on=years.london_date(data["requested_at"]),
        now=now,
        origin="bookings",
        description=f"Funded place, booking {row.booking_id}",
        booking_id=row.booking_id,
        event_id=row.event_id,
        rules=rules,
    )
    row.status = COMMITTED
    row.pending_transfer_id = pending.id
    publishing.funding_committed(s, row, pending.id)
    if row.attendance is not None:
        _converge(s, row, rules, now)
    return row


def cancel_funding(s: Session, data: dict[str, Any], *, now: datetime | None = None) -> Funding:
    """``bookings.booking.cancelled``: release the booking's commitment, if it holds one;
    if no request was seen yet, leave a tombstone so a late one declines."""
    now = now or utcnow()
    lock_event(s, data["event_id"])
    row = _locked_funding(s, data["booking_id"])
    if row is None:
        row = _new_funding(data, CANCELLED, now)
        row.cancelled_at = data["cancelled_at"]
        s.add(row)
        return row
    if row.cancelled_at is None:
        row.cancelled_at = data["cancelled_at"]
    row.updated_at = now
    if row.status == AWAITING:
        row.status = CANCELLED
    elif row.status == COMMITTED and row.pending_transfer_id is not None:
        void(
            s,
            row.pending_transfer_id,
            transfer_id=_next_resolution_id(s, row.pending_transfer_id),
            note="Booking cancelled",
            now=now,
            origin="bookings",
        )
    # Posted (the place was used), declined, voided, tombstone: nothing is held.
    return row


def record_attendance(
    s: Session, data: dict[str, Any], *, now: datetime | None = None
) -> Funding | None:
    """``bookings.attendance.recorded``: attended → post the commitment; no-show → void or
    post as the hub's policy says. A correction converges by reversing what no longer
    holds; an older recording than the one applied (a retried message) is ignored.
    Attendance seen before the request (hub-funded bookings only) waits for it."""
    now = now or utcnow()
    lock_event(s, data["event_id"])
    row = _locked_funding(s, data["booking_id"])
    if row is None:
        if data["funding"] != "funded":
            return None  # not a hub-funded place: nothing for the budget
        row = _new_funding(data, AWAITING, now)
        s.add(row)
    if row.attendance_at is not None and data["recorded_at"] < row.attendance_at:
        return row
    row.attendance = data["status"]
    row.attendance_at = data["recorded_at"]
    row.updated_at = now
    if row.cancelled_at is None and row.pending_transfer_id is not None:
        _converge(s, row, rules_of(s, row.hub_id), now)
    return row


def _next_resolution_id(s: Session, pending_id: uuid.UUID) -> uuid.UUID:
    """The n-th post or void of a commitment gets the n-th derived id: deterministic,
    so a replayed correction finds what it already wrote."""
    n = s.scalar(
        select(func.count())
        .select_from(Transfer)
        .where(Transfer.pending_id == pending_id, Transfer.kind.in_(RESOLUTIONS))
    )
    return derived_id("resolution", pending_id, n or 0)


def _converge(s: Session, row: Funding, rules: Rules, now: datetime) -> None:
    """Make the commitment's live resolution what the attendance calls for."""
    assert row.pending_transfer_id is not None
    want = POST if row.attendance == "attended" or rules.no_show_policy == "post" else VOID
    live = live_resolution(s, row.pending_transfer_id)
    if live is not None and live.kind == want:
        return
    if live is not None:
        reverse(s, live.id, note="Attendance corrected", now=now, origin="bookings", guarded=False)
    resolution_id = _next_resolution_id(s, row.pending_transfer_id)
    note = f"Attendance: {row.attendance}"
    if want == POST:
        post(
            s,
            row.pending_transfer_id,
            transfer_id=resolution_id,
            note=note,
            now=now,
            origin="bookings",
        )
    else:
        void(
            s,
            row.pending_transfer_id,
            transfer_id=resolution_id,
            note=note,
            now=now,
            origin="bookings",
        )


# -- other consumers ----------------------------------------------------------------------------
def _stripe_ids(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "booking_id": data["booking_id"],
        "event_id": data["event_id"],
        "payment_intent": data["payment_intent"],
        "charge": data.get("charge"),
        "checkout_session": data.get("checkout_session"),
    }


def payment_succeeded(s: Session, data: dict[str, Any], *, now: datetime | None = None) -> Transfer:
    """``bookings.payment.succeeded``: income, id derived from the payment intent."""
    transfer, _ = record_income(
        s,
        data["hub_id"],
        transfer_id=derived_id("payment", data["payment_intent"]),
        amount=data["amount_pence"],
        at=data["paid_at"],
        now=now,
        description=f"Card payment, booking {data['booking_id']}",
        **_stripe_ids(data),
    )
    return transfer


def payment_refunded(s: Session, data: dict[str, Any], *, now: datetime | None = None) -> Transfer:
    """``bookings.payment.refunded``: a refund, id derived from Stripe's refund id."""
    transfer, _ = record_refund(
        s,
        data["hub_id"],
        transfer_id=derived_id("refund", data["refund_id"]),
        amount=data["amount_pence"],
        at=data["refunded_at"],
        now=now,
        description=f"Card refund, booking {data['booking_id']}",
        refund_id=data["refund_id"],
        **_stripe_ids(data),
    )
    return transfer


def meeting_cost(rate_pence: int, minutes: int) -> int:
    """An hourly rate for ``minutes``, to the nearest penny (halves up)."""
    return (rate_pence * minutes + 30) // 60


def meeting_logged(
    s: Session, data: dict[str, Any], *, now: datetime | None = None
) -> Transfer | None:
    """``mentoring.meeting.logged``: spend on ``mentoring`` at the hub's hourly rate, if it
    set one (else nothing). Id derived from the match and the meeting's time; a fact
    (the mentor's time was given), so forced."""
    rate = rules_of(s, data["hub_id"]).mentor_hourly_rate_pence
    if not rate:
        return None
    amount = meeting_cost(rate, data["minutes"])
    if amount <= 0:
        return None
    occurred: datetime = data["occurred_at"]
    transfer, _ = spend(
        s,
        data["hub_id"],
        transfer_id=derived_id("meeting", data["match_id"], occurred.isoformat()),
        line="mentoring",
        amount=amount,
        description=f"Mentoring meeting, {data['minutes']} min at {_pounds(rate)}/hour",
        spent_on=years.london_date(occurred),
        now=now,
        origin="mentoring",
        guarded=False,
        strict=False,
        match_id=data["match_id"],
        by=data["mentor_id"],
    )
    return transfer


# -- reconciliation ----------------------------------------------------------------------------
def resolve_item(
    s: Session,
    hub_id: uuid.UUID,
    item_id: str,
    *,
    kind: str,
    note: str,
    by: str | None,
    now: datetime,
) -> tuple[Resolution, bool]:
    """Record why a reconciliation item is as it is; returns the row and whether it is
    new. Resolving again replaces the note (and who and when): the latest word stands,
    like an edited comment, because a note explains a difference and changes nothing
    in the ledger (a wrong booking is corrected by a reversal, not by a note)."""
    row = s.get(Resolution, (hub_id, item_id), with_for_update=True, populate_existing=True)
    created = row is None
    if row is None:
        row = Resolution(hub_id=hub_id, item_id=item_id, kind=kind, created_at=now)
        s.add(row)
    row.note = note
    row.resolved_by = by
    row.resolved_at = now
    s.flush()
    return row, created


# -- the API's units of work --------------------------------------------------------------------
def _idempotent(db: Database, work: Callable[[Session], T]) -> T:
    """Run ``work`` in a transaction; if a concurrent request with the same transfer id
    committed first (a unique violation), run it again: it replays or answers 409."""
    try:
        with db.transaction() as s:
            return work(s)
    except IntegrityError:
        with db.transaction() as s:
            return work(s)


def api_allocate(
    db: Database, who: Identity, hub_id: uuid.UUID, data: dict[str, Any]
) -> tuple[Transfer, bool]:
    require_lead(who, hub_id)
    transfer_id = data.get("id") or new_id()
    return _idempotent(
        db,
        lambda s: allocate(
            s,
            hub_id,
            transfer_id=transfer_id,
            financial_year=data["financial_year"],
            line=data["line"],
            amount=data["amount_pence"],
            source=data["source"],
            note=data.get("note"),
            by=who.user_id,
        ),
    )


def api_spend(
    db: Database, who: Identity, hub_id: uuid.UUID, data: dict[str, Any]
) -> tuple[Transfer, bool]:
    require_lead(who, hub_id)
    transfer_id = data.get("id") or new_id()
    return _idempotent(
        db,
        lambda s: spend(
            s,
            hub_id,
            transfer_id=transfer_id,
            line=data["line"],
            amount=data["amount_pence"],
            description=data["description"],
            spent_on=data["spent_on"],
            reference=data.get("reference"),
            by=who.user_id,
        ),
    )


def api_reverse(
    db: Database, who: Identity, hub_id: uuid.UUID, transfer_id: uuid.UUID, data: dict[str, Any]
) -> tuple[Transfer, bool]:
    require_lead(who, hub_id)
    return _idempotent(
        db,
        lambda s: reverse(
            s,
            transfer_id,
            note=data["note"],
            hub_id=hub_id,
            by=who.user_id,
            kinds=API_REVERSIBLE,
        ),
    )


def api_put_settings(
    db: Database, who: Identity, hub_id: uuid.UUID, data: dict[str, Any]
) -> HubSettings:
    require_lead(who, hub_id)
    with db.transaction() as s:
        return save_settings(s, hub_id, data, by=who.user_id, now=utcnow())


def api_resolve_item(
    db: Database, who: Identity, hub_id: uuid.UUID, item_id: str, kind: str, data: dict[str, Any]
) -> tuple[Resolution, bool]:
    """``kind``: the item's, already checked to be this hub's (reconciliation.resolve)."""
    require_lead(who, hub_id)
    return _idempotent(
        db,
        lambda s: resolve_item(
            s, hub_id, item_id, kind=kind, note=data["note"], by=who.user_id, now=utcnow()
        ),
    )
