"""Request and response bodies of the budget API (marshmallow; documented in OpenAPI).

Money is integer pence (``strict``: ``12.5`` or ``"100"`` is refused, never rounded);
financial years are ``YYYY-YY`` (April to March); lines are the budget lines of
``shared.events.bookings.BUDGET_LINES``; text a client sends is a ``shared.fields.Text``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate

from services.budget import years
from services.budget.models import (
    ITEM_KINDS,
    KINDS,
    LINES,
    MATCH_STATUSES,
    NO_SHOW_POLICIES,
    ORIGINS,
)
from shared.db import utcnow
from shared.events.budget import FINANCIAL_YEAR_PATTERN
from shared.fields import Text, UTCDateTime
from shared.pagination import Cursor, NextCursor

#: The largest single movement the API takes (£1bn): far above any hub's budget, far
#: below what the balances' 64-bit columns hold when summed.
MAX_AMOUNT = 100_000_000_000
MAX_THRESHOLDS = 5
MAX_RATE = 1_000_000
#: The longest reconciliation range, in days (a financial year and some): each day of
#: range is a day of the whole Stripe account's balance transactions read page by page.
MAX_RECONCILIATION_DAYS = 400
FIRST_DAY = date(years.FIRST_YEAR, 4, 1)
LAST_DAY = date(years.LAST_YEAR + 1, 3, 31)


def _check_year(value: str) -> None:
    if not years.is_financial_year(value):
        raise ValidationError(
            "A financial year is YYYY-YY of two consecutive years, e.g. 2026-27 "
            f"(from {years.FIRST_YEAR}-{(years.FIRST_YEAR + 1) % 100:02d})."
        )


def financial_year(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=_check_year,
        metadata={
            "description": "April to March, e.g. 2026-27.",
            "pattern": FINANCIAL_YEAR_PATTERN,
            "example": "2026-27",
        },
        **kwargs,
    )


def _line(**kwargs: Any) -> fields.String:
    return fields.String(validate=validate.OneOf(LINES), **kwargs)


def _amount() -> fields.Integer:
    return fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_AMOUNT),
        metadata={"description": "Pence, more than zero."},
    )


def _unique(name: str) -> Any:
    def check(values: list[Any]) -> None:
        if len(values) != len(set(values)):
            raise ValidationError(f"Each {name} may appear once.")

    return check


def _transfer_id() -> fields.UUID:
    return fields.UUID(
        load_default=None,
        metadata={
            "description": "Your id for this transfer: sending the same id and body again "
            "returns the original (200); the same id with another body is a 409."
        },
    )


# -- inputs -------------------------------------------------------------------------------
class AllocationInSchema(Schema):
    id = _transfer_id()
    financial_year = financial_year(required=True)
    line = _line(required=True)
    amount_pence = _amount()
    source = Text(
        max_length=200,
        min_length=1,
        required=True,
        metadata={"example": "DfE Stronger Practice Hub grant"},
    )
    note = Text(max_length=1000, multiline=True, allow_none=True, load_default=None)


class SpendInSchema(Schema):
    id = _transfer_id()
    line = _line(required=True)
    amount_pence = _amount()
    description = Text(max_length=500, min_length=1, multiline=True, required=True)
    spent_on = fields.Date(
        required=True,
        validate=validate.Range(min=date(years.FIRST_YEAR, 4, 1), max=date(2099, 3, 31)),
        metadata={"description": "The day of the spend: its financial year is charged."},
    )
    reference = Text(
        max_length=100,
        allow_none=True,
        load_default=None,
        metadata={"description": "An invoice or order number."},
    )


class ReverseInSchema(Schema):
    note = Text(
        max_length=1000,
        min_length=1,
        multiline=True,
        required=True,
        metadata={"description": "Why the transfer is corrected."},
    )


class SettingsSchema(Schema):
    """A hub's budget settings (PUT replaces them all)."""

    alert_thresholds = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1, max=200)),
        required=True,
        validate=[validate.Length(max=MAX_THRESHOLDS), _unique("threshold")],
        metadata={
            "description": "Percent of a line's allocation at which its committed plus "
            "spent money raises an alert (once each).",
            "uniqueItems": True,
        },
    )
    overdraft_lines = fields.List(
        fields.String(validate=validate.OneOf(LINES)),
        required=True,
        validate=[validate.Length(max=len(LINES)), _unique("line")],
        metadata={
            "description": "Lines whose available money may go below zero.",
            "uniqueItems": True,
        },
    )
    no_show_policy = fields.String(
        required=True,
        validate=validate.OneOf(NO_SHOW_POLICIES),
        metadata={"description": "A funded no-show: void (release) or post (charge)."},
    )
    mentor_hourly_rate_pence = fields.Integer(
        required=True,
        strict=True,
        allow_none=True,
        validate=validate.Range(min=0, max=MAX_RATE),
        metadata={"description": "Charged to mentoring per logged meeting hour; null: none."},
    )


class SettingsOutSchema(SettingsSchema):
    hub_id = fields.UUID()
    updated_at = UTCDateTime(allow_none=True)
    updated_by = fields.String(allow_none=True)


class SummaryQuerySchema(Schema):
    financial_year = financial_year(
        load_default=None,
    )


class TransferListQuerySchema(Schema):
    financial_year = financial_year(load_default=None)
    line = _line(load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = Cursor()
    format = fields.String(
        load_default="json",
        validate=validate.OneOf(["json", "csv"]),
        metadata={"description": "csv: every matching movement (no paging), for Excel."},
    )


def reconciliation_range(first: date | None, last: date | None, today: date) -> tuple[date, date]:
    """The days a reconciliation covers, both included: by default the current financial
    year to date; ``to`` alone: from the start of its financial year."""
    last = last or today
    first = first or years.bounds(years.financial_year_of(last))[0]
    return first, last


def _day(description: str, **kwargs: Any) -> fields.Date:
    return fields.Date(
        load_default=None,
        **kwargs,
        validate=validate.Range(min=FIRST_DAY, max=LAST_DAY),
        metadata={"description": description},
    )


class ReconciliationQuerySchema(Schema):
    #: ``from`` on the wire (a Python keyword).
    from_ = _day(
        "First day (London), included. Default: the start of the financial year of `to`.",
        data_key="from",
    )
    to = _day("Last day (London), included. Default: today.")
    format = fields.String(
        load_default="json",
        validate=validate.OneOf(["json", "csv"]),
        metadata={"description": "csv: the items, for Excel."},
    )

    @post_load
    def _span(self, data: dict[str, Any], **_kw: Any) -> dict[str, Any]:
        """Fill in the default days, then check the range (a 422 like any field's)."""
        today = years.london_date(utcnow())
        first, last = reconciliation_range(data.get("from_"), data.get("to"), today)
        if first > last:
            raise ValidationError(f"Must not be after to ({last.isoformat()}).", "from")
        if (last - first).days + 1 > MAX_RECONCILIATION_DAYS:
            raise ValidationError(
                f"A reconciliation covers at most {MAX_RECONCILIATION_DAYS} days.", "to"
            )
        return {**data, "from_": first, "to": last}


class ResolveInSchema(Schema):
    note = Text(
        max_length=2000,
        min_length=1,
        multiline=True,
        required=True,
        metadata={"description": "Why the item is as it is, e.g. what was done about it."},
    )


# -- outputs ------------------------------------------------------------------------------
class EffectSchema(Schema):
    """What the transfer did to its account's balances (signed pence)."""

    allocated = fields.Integer()
    committed = fields.Integer()
    spent = fields.Integer()
    income = fields.Integer()
    refunds = fields.Integer()


class TransferSchema(Schema):
    id = fields.UUID()
    hub_id = fields.UUID()
    financial_year = fields.String()
    line = fields.String()
    kind = fields.String(validate=validate.OneOf(KINDS))
    amount_pence = fields.Integer()
    effect = fields.Nested(EffectSchema)
    pending_id = fields.UUID(allow_none=True)
    reverses_id = fields.UUID(allow_none=True)
    reversed_by = fields.UUID(allow_none=True)
    booked_on = fields.Date()
    source = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    reference = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    booking_id = fields.UUID(allow_none=True)
    event_id = fields.UUID(allow_none=True)
    match_id = fields.UUID(allow_none=True)
    payment_intent = fields.String(allow_none=True)
    charge = fields.String(allow_none=True)
    refund_id = fields.String(allow_none=True)
    checkout_session = fields.String(allow_none=True)
    origin = fields.String(validate=validate.OneOf(ORIGINS))
    forced = fields.Boolean(
        metadata={"description": "Recorded although it overdrew the line: it had happened."}
    )
    created_by = fields.String(allow_none=True)
    created_at = UTCDateTime()


class TransferPageSchema(Schema):
    items = fields.List(fields.Nested(TransferSchema))
    next_cursor = NextCursor()


class FiguresSchema(Schema):
    allocated = fields.Integer()
    committed = fields.Integer()
    spent = fields.Integer()
    remaining = fields.Integer(
        metadata={"description": "allocated + income - refunds - committed - spent"}
    )
    income = fields.Integer()
    refunds = fields.Integer()


class LineFiguresSchema(FiguresSchema):
    line = fields.String()


class MonthSchema(Schema):
    month = fields.String(metadata={"example": "2026-04"})
    committed = fields.Integer(metadata={"description": "Net change of commitments."})
    spent = fields.Integer()
    income = fields.Integer()
    refunds = fields.Integer()


class SummarySchema(Schema):
    financial_year = fields.String()
    lines = fields.List(fields.Nested(LineFiguresSchema))
    totals = fields.Nested(FiguresSchema)
    by_month = fields.List(fields.Nested(MonthSchema))
    cost_per_attended_place = fields.Integer(
        allow_none=True,
        metadata={
            "description": "Posted funded-place spend / attended funded places (null: none)."
        },
    )


class ResolutionSchema(Schema):
    note = fields.String()
    by = fields.String(allow_none=True, metadata={"description": "Who wrote the note."})
    at = UTCDateTime(metadata={"description": "When it was last written."})


class ReconciliationItemSchema(Schema):
    id = fields.String(
        metadata={
            "description": "Stable: the payment intent of a charge (its charge id if it has "
            "none), the refund's id. Resolve the item with it.",
            "example": "pi_3PqW0cLkdIwHu7ix0x7tQh4Z",
        }
    )
    status = fields.String(validate=validate.OneOf(MATCH_STATUSES))
    kind = fields.String(validate=validate.OneOf(ITEM_KINDS))
    payment_intent = fields.String(allow_none=True)
    charge = fields.String(allow_none=True)
    refund_id = fields.String(allow_none=True)
    booking_id = fields.String(allow_none=True)
    stripe_amount_pence = fields.Integer(
        allow_none=True,
        metadata={"description": "What Stripe moved, positive (a refund too); null: nothing."},
    )
    ledger_amount_pence = fields.Integer(
        allow_none=True,
        metadata={"description": "What the ledger booked (0 if reversed); null: nothing."},
    )
    fee_pence = fields.Integer(allow_none=True, metadata={"description": "Stripe's fee."})
    net_pence = fields.Integer(
        allow_none=True,
        metadata={"description": "What it did to the Stripe balance (a refund: negative)."},
    )
    created = UTCDateTime(metadata={"description": "Stripe's time, else the ledger's."})
    booked_on = fields.Date(allow_none=True, metadata={"description": "The ledger's day."})
    resolution = fields.Nested(ResolutionSchema, allow_none=True)


class ReconciliationTotalsSchema(Schema):
    stripe_gross = fields.Integer(metadata={"description": "Charges less refunds, before fees."})
    stripe_fees = fields.Integer()
    stripe_net = fields.Integer(metadata={"description": "stripe_gross - stripe_fees"})
    ledger_income = fields.Integer()
    ledger_refunds = fields.Integer()
    matched = fields.Integer()
    mismatched = fields.Integer()
    ledger_only = fields.Integer()
    stripe_only = fields.Integer()
    unresolved = fields.Integer(metadata={"description": "Items not matched and not resolved."})


class PayoutSchema(Schema):
    id = fields.String()
    amount_pence = fields.Integer()
    arrival_date = fields.Date()
    status = fields.String()
    created = UTCDateTime()


class ReconciliationSchema(Schema):
    from_ = fields.Date(data_key="from", attribute="from")
    to = fields.Date()
    items = fields.List(fields.Nested(ReconciliationItemSchema))
    totals = fields.Nested(ReconciliationTotalsSchema)
    payouts = fields.List(
        fields.Nested(PayoutSchema),
        metadata={
            "description": "The Stripe account's payouts in the range: the money of every "
            "hub card payments went to, not this hub's alone."
        },
    )


class ResolvedItemSchema(Schema):
    id = fields.String()
    kind = fields.String(validate=validate.OneOf(ITEM_KINDS))
    resolution = fields.Nested(ResolutionSchema)
