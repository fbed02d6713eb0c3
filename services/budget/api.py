"""The budget HTTP API under ``/api/budget`` (docs/budget.md, "The API").

Every operation is a hub's: its leads and admins only (``@requires("hub_lead")`` checks
the token and role before the input, then the view checks the hub: a lead of another
hub gets 403, a transfer of another hub 404). Reconciliation reads Stripe
(``reconciliation``); Stripe unreachable is a 503.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from services.budget import operations as ops
from services.budget import reconciliation, reports
from services.budget.models import Transfer
from services.budget.schemas import (
    AllocationInSchema,
    ReconciliationQuerySchema,
    ReconciliationSchema,
    ResolvedItemSchema,
    ResolveInSchema,
    ReverseInSchema,
    SettingsOutSchema,
    SettingsSchema,
    SpendInSchema,
    SummaryQuerySchema,
    SummarySchema,
    TransferListQuerySchema,
    TransferPageSchema,
    TransferSchema,
)
from shared.auth import require_identity, requires
from shared.web import current_db, runtime

bp = Blueprint(
    "budget",
    __name__,
    url_prefix="/api/budget",
    description="A hub's funding ledger: allocations, spend, corrections, settings, reports.",
)


def _written(row: Transfer, created: bool) -> Any:
    """201 for a new transfer; 200 (``Idempotent-Replayed``) for the same id and body."""
    headers = {"Location": f"/api/budget/hubs/{row.hub_id}/transfers/{row.id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return reports.transfer(current_db(), row, created=created), (201 if created else 200), headers


@bp.route("/hubs/<uuid:hub_id>/allocations")
class Allocations(MethodView):
    @requires("hub_lead")
    @bp.arguments(AllocationInSchema)
    @bp.response(201, TransferSchema)
    @bp.alt_response(200, schema=TransferSchema, description="The same id and body again.")
    @bp.alt_response(403, description="Not a lead of this hub.")
    @bp.alt_response(409, description="The id was already used with a different body.")
    def post(self, data: dict[str, Any], hub_id: uuid.UUID) -> Any:
        """Money in for a line and financial year, e.g. "DfE Stronger Practice Hub grant"."""
        row, created = ops.api_allocate(current_db(), require_identity(), hub_id, data)
        return _written(row, created)


@bp.route("/hubs/<uuid:hub_id>/spend")
class Spend(MethodView):
    @requires("hub_lead")
    @bp.arguments(SpendInSchema)
    @bp.response(201, TransferSchema)
    @bp.alt_response(200, schema=TransferSchema, description="The same id and body again.")
    @bp.alt_response(403, description="Not a lead of this hub.")
    @bp.alt_response(
        409,
        description="Not enough available on the line (and no overdraft allowed on it), "
        "or the id was already used with a different body.",
    )
    def post(self, data: dict[str, Any], hub_id: uuid.UUID) -> Any:
        """Record actual spend; the financial year of ``spent_on`` is charged."""
        row, created = ops.api_spend(current_db(), require_identity(), hub_id, data)
        return _written(row, created)


@bp.route("/hubs/<uuid:hub_id>/transfers")
class Transfers(MethodView):
    @requires("hub_lead")
    @bp.arguments(TransferListQuerySchema, location="query")
    @bp.response(200, TransferPageSchema)
    @bp.alt_response(200, description="CSV (?format=csv)", content_type="text/csv")
    @bp.alt_response(403, description="Not a lead of this hub.")
    def get(self, args: dict[str, Any], hub_id: uuid.UUID) -> Any:
        """Every movement of the hub, oldest first; ``?format=csv`` for a spreadsheet."""
        if args["format"] == "csv":
            return reports.transfers_csv(current_db(), require_identity(), hub_id, args)
        return reports.transfers_page(current_db(), require_identity(), hub_id, args)


@bp.route("/hubs/<uuid:hub_id>/transfers/<uuid:transfer_id>")
class TransferItem(MethodView):
    @requires("hub_lead")
    @bp.response(200, TransferSchema)
    @bp.alt_response(403, description="Not a lead of this hub.")
    @bp.alt_response(404, description="No such transfer in this hub.")
    def get(self, hub_id: uuid.UUID, transfer_id: uuid.UUID) -> Any:
        """One movement, with the reversal that corrected it, if any."""
        return reports.one_transfer(current_db(), require_identity(), hub_id, transfer_id)


@bp.route("/hubs/<uuid:hub_id>/transfers/<uuid:transfer_id>/reverse")
class Reverse(MethodView):
    @requires("hub_lead")
    @bp.arguments(ReverseInSchema)
    @bp.response(201, TransferSchema)
    @bp.alt_response(200, schema=TransferSchema, description="Already reversed with this note.")
    @bp.alt_response(403, description="Not a lead of this hub.")
    @bp.alt_response(404, description="No such transfer in this hub.")
    @bp.alt_response(
        409,
        description="Already reversed; a reversal, commitment or booking's post/void; or "
        "reversing it would overdraw the line.",
    )
    def post(self, data: dict[str, Any], hub_id: uuid.UUID, transfer_id: uuid.UUID) -> Any:
        """Correct a transfer with a new one of the opposite effect (never an edit)."""
        row, created = ops.api_reverse(current_db(), require_identity(), hub_id, transfer_id, data)
        return _written(row, created)


@bp.route("/hubs/<uuid:hub_id>/settings")
class Settings(MethodView):
    @requires("hub_lead")
    @bp.response(200, SettingsOutSchema)
    @bp.alt_response(403, description="Not a lead of this hub.")
    def get(self, hub_id: uuid.UUID) -> Any:
        """Alert thresholds, overdraft lines, no-show policy, mentor hourly rate."""
        return reports.settings(current_db(), require_identity(), hub_id)

    @requires("hub_lead")
    @bp.arguments(SettingsSchema)
    @bp.response(200, SettingsOutSchema)
    @bp.alt_response(403, description="Not a lead of this hub.")
    def put(self, data: dict[str, Any], hub_id: uuid.UUID) -> Any:
        """Replace the hub's settings."""
        row = ops.api_put_settings(current_db(), require_identity(), hub_id, data)
        return reports.settings_view(hub_id, row)


@bp.route("/hubs/<uuid:hub_id>/summary")
class Summary(MethodView):
    @requires("hub_lead")
    @bp.arguments(SummaryQuerySchema, location="query")
    @bp.response(200, SummarySchema)
    @bp.alt_response(403, description="Not a lead of this hub.")
    def get(self, args: dict[str, Any], hub_id: uuid.UUID) -> Any:
        """A financial year (default: the current one) per line and month, in pence."""
        return reports.summary(current_db(), require_identity(), hub_id, args.get("financial_year"))


@bp.route("/hubs/<uuid:hub_id>/reconciliation")
class Reconciliation(MethodView):
    @requires("hub_lead")
    @bp.arguments(ReconciliationQuerySchema, location="query")
    @bp.response(200, ReconciliationSchema)
    @bp.alt_response(200, description="CSV of the items (?format=csv)", content_type="text/csv")
    @bp.alt_response(403, description="Not a lead of this hub.")
    @bp.alt_response(503, description="Stripe could not be reached; try again later.")
    def get(self, args: dict[str, Any], hub_id: uuid.UUID) -> Any:
        """The hub's card payments and refunds, the ledger against Stripe's balance
        transactions, London days ``from`` to ``to`` included (default: the financial
        year to date); ``?format=csv`` for a spreadsheet."""
        report = reconciliation.reconcile(
            current_db(),
            runtime().settings,
            require_identity(),
            hub_id,
            args["from_"],
            args["to"],
        )
        if args["format"] == "csv":
            return reconciliation.as_csv(report, hub_id)
        return report


@bp.route("/hubs/<uuid:hub_id>/reconciliation/items/<item_id>/resolve")
class ResolveItem(MethodView):
    @requires("hub_lead")
    @bp.arguments(ResolveInSchema)
    @bp.response(201, ResolvedItemSchema)
    @bp.alt_response(200, schema=ResolvedItemSchema, description="The item's note, replaced.")
    @bp.alt_response(403, description="Not a lead of this hub.")
    @bp.alt_response(404, description="No such item of this hub (here or at Stripe).")
    @bp.alt_response(503, description="Stripe could not be reached to find the item.")
    def post(self, data: dict[str, Any], hub_id: uuid.UUID, item_id: str) -> Any:
        """Note why an item is as it is (who and when are kept); again: replaces the note."""
        view, created = reconciliation.resolve(
            current_db(), runtime().settings, require_identity(), hub_id, item_id, data
        )
        return view, 201 if created else 200
