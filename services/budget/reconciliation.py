"""A hub's card money, the ledger against Stripe (docs/budget.md, "Reconciliation").

Stripe's side is the account's balance transactions, read afresh on every request
(``stripe_reader``): what really moved, with Stripe's fee and the net. The ledger's side
is the ``income`` and ``refund`` transfers budget booked from bookings' payment events,
which keep Stripe's ids. Each card payment (keyed by its payment intent) and each refund
(by its id) is one item: ``matched``, ``amount_mismatch``, ``ledger_only`` or
``stripe_only``. The only thing stored is a hub lead's note on an item (a resolution,
written by ``operations.resolve_item``).

Whose money is whose: one Stripe account serves every hub. A charge is the hub's when
its metadata says so (bookings puts ``hub_id`` in the Checkout Session's
``payment_intent_data.metadata``, which Stripe copies onto the charge); a refund when
its metadata says so, or its charge or payment intent is one of the hub's (among the
charges read, or in the hub's ledger, however old). Everything else is left out.

The range is London days, both included. The ledger's day of a payment is when bookings
heard of it, which can fall either side of a midnight from Stripe's, so Stripe is read
``MARGIN`` either side too and an item is in the range when either of its sides is.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from services.budget import operations as ops
from services.budget import reports, stripe_reader, years
from services.budget.models import (
    AMOUNT_MISMATCH,
    INCOME,
    ITEM_KINDS,
    LEDGER_ONLY,
    MATCHED,
    REFUND,
    STRIPE_ONLY,
    Resolution,
    Transfer,
)
from shared.auth import Identity
from shared.config import Settings
from shared.db import Database
from shared.problems import Problem

CHARGE_ITEM, REFUND_ITEM = ITEM_KINDS
#: How far either side of the range Stripe is read, to pair items across a midnight.
MARGIN = timedelta(days=3)
#: Balance transaction types (Stripe names some differently for non-card methods).
_CHARGE_TYPES = frozenset({"charge", "payment"})
_REFUND_TYPES = frozenset({"refund", "payment_refund"})
_REFUND_FAILURE_TYPES = frozenset({"refund_failure", "payment_failure_refund"})
_REFUND_PREFIXES = ("re_", "pyr_")
#: What an item id looks like: a Stripe id (``pi_...``, ``ch_...``, ``re_...``).
ITEM_ID = re.compile(r"^[A-Za-z]{2,8}_[A-Za-z0-9_]{1,240}$")
#: Ids per ``IN (...)`` of a ledger lookup (well under every backend's limit).
_CHUNK = 500


@dataclass
class _Money:
    kind: str
    payment_intent: str | None
    charge: str | None
    refund_id: str | None

    @property
    def key(self) -> str:
        """A charge's payment intent (else its charge id), a refund's id."""
        if self.kind == REFUND_ITEM:
            return self.refund_id or ""
        return self.payment_intent or self.charge or ""

    def ids(self) -> list[str]:
        """The ids the other side may know it by."""
        ids = [self.refund_id] if self.kind == REFUND_ITEM else [self.payment_intent, self.charge]
        return [x for x in ids if x]


@dataclass
class StripeMoney(_Money):
    """What Stripe moved for one charge or refund (its balance transactions summed)."""

    hub_id: str | None
    booking_id: str | None
    #: Positive, as the ledger books it (a refund too; a failed refund nets to 0).
    amount: int
    fee: int
    net: int
    created: datetime


@dataclass
class LedgerMoney(_Money):
    """What the ledger booked for one charge (income) or refund."""

    booking_id: uuid.UUID | None
    #: The transfer's amount, or 0 once a reversal corrected it.
    amount: int
    booked_on: date
    created: datetime


def unavailable() -> Problem:
    return Problem(
        503,
        "Stripe unavailable",
        "Stripe could not be reached, so nothing was compared. Try again in a minute.",
        kind="stripe-unavailable",
        headers={"Retry-After": "30"},
    )


def _id(value: Any) -> str | None:
    """A Stripe reference as an id, whether it came as an id or expanded."""
    if isinstance(value, dict):
        return str(value["id"])
    return None if value is None else str(value)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=years.LONDON)


# -- Stripe's side ---------------------------------------------------------------------------
def stripe_money(transactions: Iterable[dict[str, Any]]) -> list[StripeMoney]:
    """Charges and refunds from balance transactions (with ``source`` expanded), each
    charge by payment intent and each refund by id; other types (payouts, fees,
    adjustments) are the account's, not a hub's."""
    found: dict[tuple[str, str], StripeMoney] = {}
    for txn in transactions:
        source = txn.get("source")
        if not isinstance(source, dict):
            continue
        kind_of = txn.get("type")
        if kind_of in _CHARGE_TYPES:
            kind, sign = CHARGE_ITEM, 1
            charge, refund_id = str(source["id"]), None
            payment_intent = _id(source.get("payment_intent"))
            key = payment_intent or charge
        elif kind_of in _REFUND_TYPES or kind_of in _REFUND_FAILURE_TYPES:
            kind, sign = REFUND_ITEM, -1  # a refund takes money: its amount is negative
            charge, refund_id = _id(source.get("charge")), str(source["id"])
            payment_intent = _id(source.get("payment_intent"))
            key = refund_id
        else:
            continue
        created = datetime.fromtimestamp(int(txn["created"]), UTC)
        row = found.get((kind, key))
        if row is None:
            metadata = source.get("metadata") or {}
            row = found[(kind, key)] = StripeMoney(
                kind=kind,
                payment_intent=payment_intent,
                charge=charge,
                refund_id=refund_id,
                hub_id=metadata.get("hub_id"),
                booking_id=metadata.get("booking_id"),
                amount=0,
                fee=0,
                net=0,
                created=created,
            )
        row.amount += sign * int(txn["amount"])
        row.fee += int(txn.get("fee") or 0)
        row.net += int(txn["net"])
        row.created = min(row.created, created)
    return list(found.values())


# -- the ledger's side -----------------------------------------------------------------------
def _ledger_query(hub_id: uuid.UUID) -> Any:
    reversal = aliased(Transfer)
    return (
        select(
            Transfer.kind,
            Transfer.payment_intent,
            Transfer.charge,
            Transfer.refund_id,
            Transfer.booking_id,
            Transfer.amount_pence,
            Transfer.booked_on,
            Transfer.created_at,
            reversal.id,
        )
        .outerjoin(reversal, reversal.reverses_id == Transfer.id)
        .where(Transfer.hub_id == hub_id, Transfer.kind.in_((INCOME, REFUND)))
    )


def _chunks(values: set[str]) -> Iterator[list[str]]:
    ordered = sorted(values)
    for i in range(0, len(ordered), _CHUNK):
        yield ordered[i : i + _CHUNK]


def ledger_money(
    s: Session,
    hub_id: uuid.UUID,
    first: date,
    last: date,
    *,
    payment_intents: set[str],
    charges: set[str],
    refund_ids: set[str],
) -> list[LedgerMoney]:
    """The hub's card income and refunds booked on the range's days, and any (of any
    day) with one of these Stripe ids."""
    start, end = (int(years.financial_year_of(day)[:4]) for day in (first, last))
    year_names = [f"{y}-{(y + 1) % 100:02d}" for y in range(start, end + 1)]
    rows = list(
        s.execute(
            _ledger_query(hub_id).where(
                Transfer.financial_year.in_(year_names),
                Transfer.booked_on >= first,
                Transfer.booked_on <= last,
            )
        )
    )
    for column, wanted in (
        (Transfer.payment_intent, payment_intents),
        (Transfer.charge, charges),
        (Transfer.refund_id, refund_ids),
    ):
        for chunk in _chunks(wanted):
            rows += s.execute(_ledger_query(hub_id).where(column.in_(chunk)))
    found: dict[tuple[str, str], LedgerMoney] = {}
    for kind, pi, charge, refund_id, booking_id, amount, booked_on, created, reversed_by in rows:
        entry = LedgerMoney(
            kind=CHARGE_ITEM if kind == INCOME else REFUND_ITEM,
            payment_intent=pi,
            charge=charge,
            refund_id=refund_id,
            booking_id=booking_id,
            amount=0 if reversed_by is not None else amount,
            booked_on=booked_on,
            created=created,
        )
        found[(entry.kind, entry.key)] = entry  # the same transfer found twice is one
    return list(found.values())


# -- pairing ----------------------------------------------------------------------------------
def _hubs_refund(
    money: StripeMoney, hub: str, payment_intents: set[str], charges: set[str]
) -> bool:
    if money.hub_id is not None:
        return money.hub_id == hub
    return money.payment_intent in payment_intents or money.charge in charges


def _pair(
    stripe: list[StripeMoney], ledger: list[LedgerMoney]
) -> list[tuple[StripeMoney | None, LedgerMoney | None]]:
    """Each ledger entry with the Stripe money of the same payment intent or charge (a
    charge) or refund id (a refund); what is left of either side stands alone."""
    index: dict[tuple[str, str], StripeMoney] = {}
    for m in stripe:
        for known in m.ids():
            index.setdefault((m.kind, known), m)
    taken: set[tuple[str, str]] = set()
    pairs: list[tuple[StripeMoney | None, LedgerMoney | None]] = []
    for entry in ledger:
        found = [index[(entry.kind, k)] for k in entry.ids() if (entry.kind, k) in index]
        match = next((m for m in found if (m.kind, m.key) not in taken), None)
        if match is not None:
            taken.add((match.kind, match.key))
        pairs.append((match, entry))
    pairs += [(m, None) for m in stripe if (m.kind, m.key) not in taken]
    return pairs


def _item(
    stripe: StripeMoney | None, ledger: LedgerMoney | None, first: date, last: date
) -> dict[str, Any] | None:
    """The item of a pair, or None when it is outside the range or moved no money."""
    in_range = (stripe is not None and first <= years.london_date(stripe.created) <= last) or (
        ledger is not None and first <= ledger.booked_on <= last
    )
    if not in_range or (
        (stripe is None or not stripe.amount) and (ledger is None or not ledger.amount)
    ):
        return None
    sides: list[_Money] = [x for x in (stripe, ledger) if x is not None]
    kind = sides[0].kind
    payment_intent = next((x.payment_intent for x in sides if x.payment_intent), None)
    charge = next((x.charge for x in sides if x.charge), None)
    refund_id = next((x.refund_id for x in sides if x.refund_id), None)
    if kind == REFUND_ITEM:
        item_id = refund_id
    elif payment_intent and payment_intent.startswith("pi_"):
        item_id = payment_intent
    else:
        item_id = charge or payment_intent
    if stripe is None:
        status = LEDGER_ONLY
    elif ledger is None:
        status = STRIPE_ONLY
    else:
        status = MATCHED if stripe.amount == ledger.amount else AMOUNT_MISMATCH
    booking = ledger.booking_id if ledger is not None else None
    return {
        "id": item_id,
        "status": status,
        "kind": kind,
        "payment_intent": payment_intent,
        "charge": charge,
        "refund_id": refund_id,
        "booking_id": str(booking) if booking else (stripe.booking_id if stripe else None),
        "stripe_amount_pence": stripe.amount if stripe else None,
        "ledger_amount_pence": ledger.amount if ledger else None,
        "fee_pence": stripe.fee if stripe else None,
        "net_pence": stripe.net if stripe else None,
        "created": stripe.created if stripe else ledger.created if ledger else None,
        "booked_on": ledger.booked_on if ledger else None,
        "resolution": None,
    }


def _totals(items: Sequence[dict[str, Any]]) -> dict[str, int]:
    def total(field: str, kind: str | None = None) -> int:
        return sum(i[field] or 0 for i in items if kind is None or i["kind"] == kind)

    def count(status: str) -> int:
        return sum(1 for i in items if i["status"] == status)

    return {
        "stripe_gross": total("stripe_amount_pence", CHARGE_ITEM)
        - total("stripe_amount_pence", REFUND_ITEM),
        "stripe_fees": total("fee_pence"),
        "stripe_net": total("net_pence"),
        "ledger_income": total("ledger_amount_pence", CHARGE_ITEM),
        "ledger_refunds": total("ledger_amount_pence", REFUND_ITEM),
        "matched": count(MATCHED),
        "mismatched": count(AMOUNT_MISMATCH),
        "ledger_only": count(LEDGER_ONLY),
        "stripe_only": count(STRIPE_ONLY),
        "unresolved": sum(1 for i in items if i["status"] != MATCHED and not i["resolution"]),
    }


def resolution_view(row: Resolution) -> dict[str, Any]:
    return {"note": row.note, "by": row.resolved_by, "at": row.resolved_at}


def _payout_view(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": p["id"],
        "amount_pence": int(p["amount"]),
        # Stripe's arrival date is a midnight UTC timestamp of the day it arrives.
        "arrival_date": datetime.fromtimestamp(int(p["arrival_date"]), UTC).date(),
        "status": p["status"],
        "created": datetime.fromtimestamp(int(p["created"]), UTC),
    }


# -- the report --------------------------------------------------------------------------------
def reconcile(
    db: Database, settings: Settings, who: Identity, hub_id: uuid.UUID, first: date, last: date
) -> dict[str, Any]:
    """The hub's items in [first, last] (London days), totals, and the account's payouts.
    Stripe is read before the database, so no transaction waits on it."""
    ops.require_lead(who, hub_id)
    try:
        transactions = stripe_reader.balance_transactions(
            settings, _midnight(first - MARGIN), _midnight(last + timedelta(days=1) + MARGIN)
        )
        payouts = stripe_reader.payouts(
            settings, _midnight(first), _midnight(last + timedelta(days=1))
        )
    except stripe_reader.StripeUnavailable:
        raise unavailable() from None
    hub = str(hub_id)
    money = stripe_money(transactions)
    charges = [m for m in money if m.kind == CHARGE_ITEM and m.hub_id == hub]
    # A refund names no hub (bookings' refunds carry the booking only): it is the hub's
    # if its payment is, which the ledger may know from long before the range.
    refunds = [m for m in money if m.kind == REFUND_ITEM and m.hub_id in (None, hub)]
    wanted = [*charges, *refunds]
    with db.read() as s:
        ledger = ledger_money(
            s,
            hub_id,
            first,
            last,
            payment_intents={m.payment_intent for m in wanted if m.payment_intent},
            charges={m.charge for m in wanted if m.charge},
            refund_ids={m.refund_id for m in refunds if m.refund_id},
        )
        notes = {
            r.item_id: r for r in s.scalars(select(Resolution).where(Resolution.hub_id == hub_id))
        }
    known_intents = {x.payment_intent for x in [*charges, *ledger] if x.payment_intent}
    known_charges = {x.charge for x in [*charges, *ledger] if x.charge}
    known_refunds = {x.refund_id for x in ledger if x.refund_id}
    refunds = [
        m
        for m in refunds
        if m.refund_id in known_refunds or _hubs_refund(m, hub, known_intents, known_charges)
    ]
    items = []
    for stripe, entry in _pair([*charges, *refunds], ledger):
        item = _item(stripe, entry, first, last)
        if item is None:
            continue
        if (note := notes.get(item["id"])) is not None:
            item["resolution"] = resolution_view(note)
        items.append(item)
    items.sort(key=lambda i: (i["created"], i["id"]))
    return {
        "from": first,
        "to": last,
        "items": items,
        "totals": _totals(items),
        "payouts": sorted(
            (_payout_view(p) for p in payouts), key=lambda p: (p["created"], p["id"])
        ),
    }


CSV_HEADER = (
    "created",
    "id",
    "status",
    "kind",
    "payment_intent",
    "charge",
    "refund_id",
    "booking_id",
    "booked_on",
    "stripe_amount_pence",
    "ledger_amount_pence",
    "fee_pence",
    "net_pence",
    "resolution_note",
    "resolved_by",
    "resolved_at",
)


def _stamp(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_csv(report: dict[str, Any], hub_id: uuid.UUID) -> Response:
    """The items for a spreadsheet (the budget's own CSV: BOM, CRLF, formulas defused)."""
    rows = []
    for i in report["items"]:
        resolution = i["resolution"] or {}
        rows.append(
            [
                _stamp(i["created"]),
                *("" if i[name] is None else i[name] for name in CSV_HEADER[1:13]),
                resolution.get("note", ""),
                resolution.get("by") or "",
                _stamp(resolution.get("at")),
            ]
        )
    name = f"reconciliation-{hub_id}-{report['from'].isoformat()}-{report['to'].isoformat()}.csv"
    return reports.csv_response(CSV_HEADER, rows, name)


# -- resolving an item -----------------------------------------------------------------------
def item_kind(item_id: str) -> str:
    """``charge`` or ``refund`` from the item's id (a Stripe id); 404 for anything else."""
    if not ITEM_ID.match(item_id):
        raise ops.not_found("reconciliation item")
    return REFUND_ITEM if item_id.startswith(_REFUND_PREFIXES) else CHARGE_ITEM


def _in_ledger(s: Session, hub_id: uuid.UUID, kind: str, ids: Iterable[str | None]) -> bool:
    wanted = [x for x in ids if x]
    if not wanted:
        return False
    if kind == REFUND_ITEM:
        where: Any = Transfer.refund_id.in_(wanted)
    else:
        where = or_(Transfer.payment_intent.in_(wanted), Transfer.charge.in_(wanted))
    found = s.scalar(
        select(Transfer.id)
        .where(Transfer.hub_id == hub_id, Transfer.kind.in_((INCOME, REFUND)), where)
        .limit(1)
    )
    return found is not None


def _hubs_item(
    db: Database, settings: Settings, hub_id: uuid.UUID, item_id: str, kind: str
) -> bool:
    """Whether the item is the hub's: its ledger knows the id, or Stripe's object (or,
    for a refund, its charge) names the hub, or the ledger knows the refund's payment."""
    with db.read() as s:
        if _in_ledger(s, hub_id, kind, [item_id]):
            return True
    try:
        obj = stripe_reader.retrieve(settings, item_id)
    except stripe_reader.StripeUnavailable:
        raise unavailable() from None
    if obj is None:
        return False
    charge = obj.get("charge") if kind == REFUND_ITEM else None
    named = (obj.get("metadata") or {}).get("hub_id") or (
        (charge.get("metadata") or {}).get("hub_id") if isinstance(charge, dict) else None
    )
    if named is not None:
        return str(named) == str(hub_id)
    if kind != REFUND_ITEM:
        return False
    with db.read() as s:
        return _in_ledger(s, hub_id, CHARGE_ITEM, [_id(obj.get("payment_intent")), _id(charge)])


def resolve(
    db: Database,
    settings: Settings,
    who: Identity,
    hub_id: uuid.UUID,
    item_id: str,
    data: dict[str, Any],
) -> tuple[dict[str, Any], bool]:
    """Record a note on one of the hub's items (whatever its status); returns the view
    and whether it is the item's first note. 404 if the id is no item of this hub's."""
    ops.require_lead(who, hub_id)
    kind = item_kind(item_id)
    if not _hubs_item(db, settings, hub_id, item_id, kind):
        raise ops.not_found("reconciliation item")
    row, created = ops.api_resolve_item(db, who, hub_id, item_id, kind, data)
    return {"id": row.item_id, "kind": row.kind, "resolution": resolution_view(row)}, created
