"""Pages: a hub's budget dashboard and its card payments' reconciliation (hub leads, admins).

Everything comes from the budget API (``/api/budget/hubs/<id>/...``, docs/budget.md) with
the signed-in user's token, so the API decides who sees what (a lead of another hub gets
its 403 page). The dashboard reads the year's summary and the hub's name in one round;
its burn chart is an SVG drawn here (``charts.py``) with the same figures in a table.
Allocations and spend post with a transfer id chosen when the form was drawn, so a form
sent twice records the money once. The CSVs are the API's own, passed through.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from markupsafe import Markup

from gateway.web.base import api_field_errors, bp, download, field_errors, menu_item, with_api
from gateway.web.charts import burn_chart_svg, burn_points
from gateway.web.client import Api, ApiError, parallel
from gateway.web.formatting import financial_year_of, pounds, today_london
from gateway.web.forms import date_range, parse_date, parse_iso_date, parse_pounds

menu_item("Budget", "web.budget", {"hub_lead"}, per_hub=True, order=60)

#: The budget lines (shared.events.bookings.BUDGET_LINES), in words.
LINES = {
    "training_delivery": "Training delivery",
    "backfill": "Backfill",
    "mentoring": "Mentoring",
    "venue": "Venue",
    "resources": "Resources",
    "other": "Other",
}
#: Reconciliation statuses (services/budget/models.py MATCH_STATUSES): words and tag colour.
MATCHES = {
    "matched": ("Matched", "govuk-tag--green"),
    "amount_mismatch": ("Amount differs", "govuk-tag--red"),
    "ledger_only": ("Only in the ledger", "govuk-tag--orange"),
    "stripe_only": ("Only at Stripe", "govuk-tag--yellow"),
}
_YEAR = re.compile(r"^(\d{4})-(\d{2})$")
ALLOCATION_FIELDS = {
    "line": "allocation_line",
    "amount_pence": "allocation_amount",
    "source": "allocation_source",
    "note": "allocation_note",
    "financial_year": "allocation_line",
    "id": "allocation_line",
}
SPEND_FIELDS = {
    "line": "spend_line",
    "amount_pence": "spend_amount",
    "description": "spend_description",
    "spent_on": "spend_on-day",
    "reference": "spend_reference",
    "id": "spend_line",
}


@bp.app_template_filter("budget_line")
def _budget_line(code: str | None) -> str:
    return LINES.get(code or "", (code or "").replace("_", " ").capitalize())


@bp.app_template_filter("budget_match")
def _budget_match(code: str | None) -> tuple[str, str]:
    return MATCHES.get(code or "", ((code or "").replace("_", " ").capitalize(), "govuk-tag--grey"))


@bp.app_template_filter("budget_date")
def _budget_date(value: str | None) -> str:
    """A plain day from the API (YYYY-MM-DD) as '1 April 2026'."""
    day = parse_iso_date(str(value or ""))
    return f"{day.day} {day:%B %Y}" if day else str(value or "")


# -- years and figures ---------------------------------------------------------------------
def is_financial_year(text: str) -> bool:
    match = _YEAR.match(text)
    return bool(match) and int(match.group(2)) == (int(match.group(1)) + 1) % 100


def year_choices(current: str, chosen: str) -> dict[str, str]:
    """Three years back to one ahead of the current one (and the chosen, if elsewhere)."""
    start = int(current[:4])
    years = {f"{y}-{(y + 1) % 100:02d}" for y in range(start - 3, start + 2)} | {chosen}
    return {y: f"April {y[:4]} to March {int(y[:4]) + 1}" for y in sorted(years, reverse=True)}


def _hub_name(api: Api, hub_id: uuid.UUID) -> str:
    try:
        return str(api.get(f"/api/catalogue/hubs/{hub_id}").get("name") or "Your hub")
    except ApiError as exc:
        if exc.status != 404:
            raise
        return "Your hub"


# -- the dashboard -------------------------------------------------------------------------
def _dashboard(
    hub_id: uuid.UUID,
    year: str | None,
    errors: list[dict[str, str]] | None = None,
    form: dict[str, str] | None = None,
    status: int | None = None,
) -> Any:
    errors = list(errors or [])
    chosen = year or ""
    if chosen and not is_financial_year(chosen):
        errors.append({"field": "financial_year", "text": "Select a financial year from the list"})
        chosen = ""
    summary, hub_name = with_api(
        lambda api: parallel(
            lambda: api.get(f"/api/budget/hubs/{hub_id}/summary", financial_year=chosen),
            lambda: _hub_name(api, hub_id),
        )
    )
    shown = str(summary["financial_year"])
    today = today_london()
    current = financial_year_of(today)
    through = f"{today:%Y-%m}" if shown == current else None
    if shown > current:
        through = f"{int(shown[:4])}-03"  # a year to come: nothing to draw yet
    points = burn_points(summary.get("by_month", []), through)
    allocation = int(summary["totals"]["allocated"])
    chart = burn_chart_svg(
        points,
        allocation,
        title=f"Money committed and spent against the allocation, {shown}",
        chart_id="burn",
    )
    form = form or {}
    return (
        render_template(
            "web/budget/dashboard.html",
            hub_id=hub_id,
            hub_name=hub_name,
            summary=summary,
            year=shown,
            years=year_choices(current, shown),
            points=points,
            allocation=allocation,
            chart=Markup(chart),  # built by charts.py, every text escaped there
            lines=LINES,
            form=form,
            allocation_id=form.get("allocation_id") or str(uuid.uuid4()),
            spend_id=form.get("spend_id") or str(uuid.uuid4()),
            errors=errors,
            by_field=field_errors(errors),
        ),
        status or (400 if errors else 200),
    )


@bp.route("/hubs/<uuid:hub_id>/budget")
def budget(hub_id: uuid.UUID) -> Any:
    return _dashboard(hub_id, request.args.get("financial_year", "").strip() or None)


def _transfer_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return str(uuid.uuid4())


def _record(
    hub_id: uuid.UUID, kind: str, body: dict[str, Any], fields: dict[str, str], form: dict[str, str]
) -> Any:
    """POST the allocation or spend; back to the dashboard, or the form with its errors."""
    year = form.get("financial_year")
    try:
        with_api(lambda api: api.post(f"/api/budget/hubs/{hub_id}/{kind}", json=body))
    except ApiError as exc:
        if exc.status == 422:
            return _dashboard(hub_id, year, api_field_errors(exc, fields), form, 422)
        if exc.status == 409:
            field = fields["line"] if exc.kind == "insufficient-funds" else fields["id"]
            return _dashboard(hub_id, year, [{"field": field, "text": exc.detail}], form, 409)
        raise
    amount = pounds(int(body["amount_pence"]))
    line = LINES.get(str(body["line"]), str(body["line"]))
    what = "an allocation" if kind == "allocations" else "spend"
    flash(f"You have recorded {what} of {amount} on {line}.", "success")
    return redirect(url_for("web.budget", hub_id=hub_id, financial_year=year or None))


def _read_money_form(
    prefix: str, names: tuple[str, ...], what: str, example: str
) -> tuple[dict[str, str], list[dict[str, str]], int | None]:
    """The fields of the allocation or spend form (``<prefix>_<name>``), with the checks
    both share: a fresh transfer id, a budget line, an amount of money. Returns the form,
    its errors so far and the amount in pence."""
    keys = ("financial_year", f"{prefix}_id", f"{prefix}_line", f"{prefix}_amount", *names)
    form = {k: request.form.get(k, "").strip() for k in keys}
    form[f"{prefix}_id"] = _transfer_id(form[f"{prefix}_id"])
    errors: list[dict[str, str]] = []
    if form[f"{prefix}_line"] not in LINES:
        errors.append({"field": f"{prefix}_line", "text": "Select a budget line"})
    field = f"{prefix}_amount"
    amount = parse_pounds(form[field])
    if not form[field]:
        errors.append({"field": field, "text": f"Enter the amount {what}"})
    elif amount is None or amount <= 0:
        errors.append(
            {"field": field, "text": f"Amount must be an amount of money, like {example}"}
        )
    if not is_financial_year(form["financial_year"]):
        form["financial_year"] = ""
    return form, errors, amount


@bp.route("/hubs/<uuid:hub_id>/budget/allocations", methods=["POST"])
def record_allocation(hub_id: uuid.UUID) -> Any:
    form, errors, amount = _read_money_form(
        "allocation", ("allocation_source", "allocation_note"), "allocated", "1500 or 1500.50"
    )
    if not form["allocation_source"]:
        errors.append({"field": "allocation_source", "text": "Enter where the money comes from"})
    if errors:
        return _dashboard(hub_id, form["financial_year"] or None, errors, form, 400)
    body: dict[str, Any] = {
        "id": form["allocation_id"],
        "financial_year": form["financial_year"] or financial_year_of(today_london()),
        "line": form["allocation_line"],
        "amount_pence": amount,
        "source": form["allocation_source"],
        "note": form["allocation_note"] or None,
    }
    return _record(hub_id, "allocations", body, ALLOCATION_FIELDS, form)


@bp.route("/hubs/<uuid:hub_id>/budget/spend", methods=["POST"])
def record_spend(hub_id: uuid.UUID) -> Any:
    names = ("spend_description", "spend_on-day", "spend_on-month", "spend_on-year")
    form, errors, amount = _read_money_form(
        "spend", (*names, "spend_reference"), "spent", "250 or 250.40"
    )
    if not form["spend_description"]:
        errors.append({"field": "spend_description", "text": "Enter what the money was spent on"})
    spent_on = parse_date(form["spend_on-day"], form["spend_on-month"], form["spend_on-year"])
    if spent_on is None:
        errors.append({"field": "spend_on-day", "text": "Date of the spend must be a real date"})
    elif spent_on > today_london():
        errors.append(
            {"field": "spend_on-day", "text": "Date of the spend must be today or in the past"}
        )
    if errors or spent_on is None:
        return _dashboard(hub_id, form["financial_year"] or None, errors, form, 400)
    body: dict[str, Any] = {
        "id": form["spend_id"],
        "line": form["spend_line"],
        "amount_pence": amount,
        "description": form["spend_description"],
        "spent_on": spent_on.isoformat(),
        "reference": form["spend_reference"] or None,
    }
    return _record(hub_id, "spend", body, SPEND_FIELDS, form)


# -- CSV downloads -------------------------------------------------------------------------
@bp.route("/hubs/<uuid:hub_id>/budget/transfers.csv")
def budget_transfers_csv(hub_id: uuid.UUID) -> Response:
    year = request.args.get("financial_year", "").strip()
    year = year if is_financial_year(year) else ""
    return download(
        f"/api/budget/hubs/{hub_id}/transfers",
        f"transfers-{year or 'all'}.csv",
        format="csv",
        financial_year=year,
    )


@bp.route("/hubs/<uuid:hub_id>/budget/reconciliation.csv")
def reconciliation_csv(hub_id: uuid.UUID) -> Response:
    chosen, errors = _range_args()
    return download(
        f"/api/budget/hubs/{hub_id}/reconciliation",
        "reconciliation.csv",
        format="csv",
        **({} if errors else chosen),
    )


def _range_args() -> tuple[dict[str, str], list[dict[str, str]]]:
    chosen = {k: request.values.get(k, "").strip() for k in ("from", "to")}
    errors: list[dict[str, str]] = []
    date_range(chosen["from"], chosen["to"], errors)
    return chosen, errors


def _reconciliation(
    hub_id: uuid.UUID,
    errors: list[dict[str, str]] | None = None,
    notes: dict[str, str] | None = None,
    status: int | None = None,
) -> Any:
    chosen, range_errors = _range_args()
    errors = range_errors + list(errors or [])
    params = {} if range_errors else chosen

    def load(api: Api) -> list[Any]:
        return parallel(
            lambda: api.get(f"/api/budget/hubs/{hub_id}/reconciliation", **params),
            lambda: _hub_name(api, hub_id),
        )

    try:
        report, hub_name = with_api(load)
    except ApiError as exc:
        if exc.status != 422:
            raise
        errors += api_field_errors(exc, {"from": "from", "to": "to"})
        report, hub_name = None, with_api(lambda api: _hub_name(api, hub_id))
    keep = {k: v for k, v in chosen.items() if v and not range_errors}
    return (
        render_template(
            "web/budget/reconciliation.html",
            hub_id=hub_id,
            hub_name=hub_name,
            report=report,
            chosen=chosen,
            keep=keep,
            notes=notes or {},
            errors=errors,
            by_field=field_errors(errors),
        ),
        status or (400 if errors else 200),
    )


@bp.route("/hubs/<uuid:hub_id>/budget/reconciliation")
def reconciliation(hub_id: uuid.UUID) -> Any:
    return _reconciliation(hub_id)


#: Stripe's ids (pi_..., re_..., ch_...): nothing else goes into an API path.
_STRIPE_ID = re.compile(r"^[A-Za-z0-9_]{1,255}$")


@bp.route("/hubs/<uuid:hub_id>/budget/reconciliation/items/<item_id>/resolve", methods=["POST"])
def resolve_item(hub_id: uuid.UUID, item_id: str) -> Any:
    if not _STRIPE_ID.match(item_id):
        abort(404)
    note = request.form.get("note", "").strip()
    field = f"note-{item_id}"
    if not note:
        error = {"field": field, "text": "Enter a note saying why the item is as it is"}
        return _reconciliation(hub_id, [error], {item_id: note}, 400)
    path = f"/api/budget/hubs/{hub_id}/reconciliation/items/{item_id}/resolve"
    try:
        with_api(lambda api: api.post(path, json={"note": note}))
    except ApiError as exc:
        if exc.status != 422:
            raise
        return _reconciliation(hub_id, api_field_errors(exc, {"note": field}), {item_id: note}, 422)
    flash(f"You have resolved item {item_id}.", "success")
    chosen, errors = _range_args()
    keep = {} if errors else {k: v for k, v in chosen.items() if v}
    return redirect(url_for("web.reconciliation", hub_id=hub_id, **keep))
