"""Schemas of the ``budget.*`` events (docs/architecture.md, "Event catalogue"): the
producer and consumers share them.

Budget answers every ``bookings.funding.requested`` with exactly one of
``budget.funding.committed`` (the money is held as a pending transfer) or
``budget.funding.declined`` (with a machine reason and a sentence a practitioner can
read), and warns a hub once per threshold with ``budget.alert.raised`` when a line's
committed plus spent money crosses a share of its allocation. Money is integer pence;
financial years are ``YYYY-YY`` (April to March, Europe/London); times are RFC 3339 UTC.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.events.bookings import BUDGET_LINES

FUNDING_COMMITTED = "budget.funding.committed"
FUNDING_DECLINED = "budget.funding.declined"
ALERT_RAISED = "budget.alert.raised"

#: Why a funding request was declined (``budget.funding.declined``'s ``reason``).
DECLINE_REASONS = (
    "no_funded_places",
    "insufficient_funds",
    "not_eligible",
    "no_allocation",
    "booking_cancelled",
)
#: A financial year as the budget names it: ``2026-27`` runs 1 April 2026 to 31 March 2027.
FINANCIAL_YEAR_PATTERN = r"^\d{4}-\d{2}$"


def _financial_year() -> fields.String:
    return fields.String(required=True, validate=validate.Regexp(FINANCIAL_YEAR_PATTERN))


class FundingCommittedData(Schema):
    """The hub holds ``amount_pence`` for the booking: a pending transfer on the line."""

    booking_id = fields.UUID(required=True)
    hub_id = fields.UUID(required=True)
    transfer_id = fields.UUID(required=True)
    amount_pence = fields.Integer(required=True, validate=validate.Range(min=0))
    line = fields.String(required=True, validate=validate.OneOf(BUDGET_LINES))
    financial_year = _financial_year()


class FundingDeclinedData(Schema):
    """The hub will not pay for this place; ``detail`` can be shown to the practitioner."""

    booking_id = fields.UUID(required=True)
    hub_id = fields.UUID(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(DECLINE_REASONS))
    detail = fields.String(required=True)


class AlertRaisedData(Schema):
    """A line's committed plus spent money reached ``threshold_percent`` of its allocation
    (raised once per hub, year, line and threshold)."""

    hub_id = fields.UUID(required=True)
    financial_year = _financial_year()
    line = fields.String(required=True, validate=validate.OneOf(BUDGET_LINES))
    threshold_percent = fields.Integer(required=True, validate=validate.Range(min=1))
    allocated_pence = fields.Integer(required=True)
    #: committed + spent on the line when the threshold was crossed.
    used_pence = fields.Integer(required=True)
    raised_at = fields.AwareDateTime(required=True)


SCHEMAS: dict[str, type[Schema]] = {
    FUNDING_COMMITTED: FundingCommittedData,
    FUNDING_DECLINED: FundingDeclinedData,
    ALERT_RAISED: AlertRaisedData,
}
