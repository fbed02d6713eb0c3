"""Reads of the budget service: the summary, the transfer list and its CSV, the settings.

Each read opens its read-only unit of work (``Database.read``) and never takes the
write lock. The summary reads the account rows and the monthly sums (a few dozen rows
for a hub's year, whatever the number of transfers) and two aggregates over the
hub-year's fundings; it never loads transfers.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from flask import Response
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from services.budget import operations as ops
from services.budget import years
from services.budget.models import (
    BALANCES,
    LINES,
    POSTED,
    Account,
    AccountMonth,
    Funding,
    HubSettings,
    Transfer,
)
from shared.auth import Identity
from shared.db import Database, utcnow
from shared.pagination import page

#: The summary's figures per line and in total (integer pence).
FIGURES = ("allocated", "committed", "spent", "remaining", "income", "refunds")
MONTH_FIGURES = ("committed", "spent", "income", "refunds")


# -- views -------------------------------------------------------------------------------
def transfer_view(t: Transfer, reversed_by: uuid.UUID | None = None) -> dict[str, Any]:
    return {
        "id": t.id,
        "hub_id": t.hub_id,
        "financial_year": t.financial_year,
        "line": t.line,
        "kind": t.kind,
        "amount_pence": t.amount_pence,
        "effect": {name: getattr(t.effect, name) for name in BALANCES},
        "pending_id": t.pending_id,
        "reverses_id": t.reverses_id,
        "reversed_by": reversed_by,
        "booked_on": t.booked_on,
        "source": t.source,
        "description": t.description,
        "reference": t.reference,
        "note": t.note,
        "booking_id": t.booking_id,
        "event_id": t.event_id,
        "match_id": t.match_id,
        "payment_intent": t.payment_intent,
        "charge": t.charge,
        "refund_id": t.refund_id,
        "checkout_session": t.checkout_session,
        "origin": t.origin,
        "forced": t.forced,
        "created_by": t.created_by,
        "created_at": t.created_at,
    }


def _reversed_by(s: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    if not ids:
        return {}
    rows = s.execute(
        select(Transfer.reverses_id, Transfer.id).where(Transfer.reverses_id.in_(list(ids)))
    ).all()
    return {original: reversal for original, reversal in rows if original is not None}


def transfer(db: Database, row: Transfer, *, created: bool) -> dict[str, Any]:
    """A transfer just written (nothing reversed it yet), or replayed (with whatever
    reversed it since)."""
    if created:
        return transfer_view(row)
    with db.read() as s:
        return transfer_view(row, _reversed_by(s, [row.id]).get(row.id))


def one_transfer(
    db: Database, who: Identity, hub_id: uuid.UUID, transfer_id: uuid.UUID
) -> dict[str, Any]:
    ops.require_lead(who, hub_id)
    with db.read() as s:
        row = s.get(Transfer, transfer_id)
        if row is None or row.hub_id != hub_id:
            raise ops.not_found("transfer")
        return transfer_view(row, _reversed_by(s, [row.id]).get(row.id))


def settings_view(hub_id: uuid.UUID, row: HubSettings | None) -> dict[str, Any]:
    rules = ops.Rules()
    if row is None:
        return {
            "hub_id": hub_id,
            "alert_thresholds": list(rules.alert_thresholds),
            "overdraft_lines": [],
            "no_show_policy": rules.no_show_policy,
            "mentor_hourly_rate_pence": None,
            "updated_at": None,
            "updated_by": None,
        }
    return {
        "hub_id": hub_id,
        "alert_thresholds": sorted(row.alert_thresholds),
        "overdraft_lines": sorted(row.overdraft_lines),
        "no_show_policy": row.no_show_policy,
        "mentor_hourly_rate_pence": row.mentor_hourly_rate_pence,
        "updated_at": row.updated_at,
        "updated_by": row.updated_by,
    }


def settings(db: Database, who: Identity, hub_id: uuid.UUID) -> dict[str, Any]:
    ops.require_lead(who, hub_id)
    with db.read() as s:
        return settings_view(hub_id, s.get(HubSettings, hub_id))


# -- the summary ---------------------------------------------------------------------------
def _figures(values: dict[str, int]) -> dict[str, int]:
    remaining = (
        values["allocated"]
        + values["income"]
        - values["refunds"]
        - values["committed"]
        - values["spent"]
    )
    return {**{name: values[name] for name in BALANCES}, "remaining": remaining}


def summary(
    db: Database, who: Identity, hub_id: uuid.UUID, financial_year: str | None
) -> dict[str, Any]:
    """A hub's year per line and month, and what an attended funded place cost."""
    ops.require_lead(who, hub_id)
    year = financial_year or years.financial_year_at(utcnow())
    with db.read() as s:
        accounts = {
            a.line: a
            for a in s.scalars(
                select(Account).where(Account.hub_id == hub_id, Account.financial_year == year)
            )
        }
        monthly = s.execute(
            select(
                AccountMonth.month,
                *(func.sum(getattr(AccountMonth, name)) for name in MONTH_FIGURES),
            )
            .where(AccountMonth.hub_id == hub_id, AccountMonth.financial_year == year)
            .group_by(AccountMonth.month)
        ).all()
        posted, attended = s.execute(
            select(
                func.coalesce(func.sum(Funding.posted_pence), 0),
                func.count(case((Funding.attendance == "attended", 1))),
            ).where(
                Funding.hub_id == hub_id,
                Funding.financial_year == year,
                Funding.status == POSTED,
            )
        ).one()
    lines = []
    totals = dict.fromkeys(BALANCES, 0)
    for line in LINES:
        account = accounts.get(line)
        values = {name: getattr(account, name) if account else 0 for name in BALANCES}
        for name in BALANCES:
            totals[name] += values[name]
        lines.append({"line": line, **_figures(values)})
    by_month = {m: dict.fromkeys(MONTH_FIGURES, 0) for m in years.months(year)}
    for month, *values in monthly:
        by_month[month] = {name: int(v or 0) for name, v in zip(MONTH_FIGURES, values, strict=True)}
    attended = int(attended)
    cost = None if attended == 0 else (int(posted) + attended // 2) // attended
    return {
        "financial_year": year,
        "lines": lines,
        "totals": _figures(totals),
        "by_month": [{"month": m, **by_month[m]} for m in sorted(by_month)],
        "cost_per_attended_place": cost,
    }


# -- the transfer list and its CSV ------------------------------------------------------------
def _transfers_query(hub_id: uuid.UUID, args: dict[str, Any]) -> Any:
    query = select(Transfer).where(Transfer.hub_id == hub_id)
    if args.get("financial_year"):
        query = query.where(Transfer.financial_year == args["financial_year"])
    if args.get("line"):
        query = query.where(Transfer.line == args["line"])
    return query


def transfers_page(
    db: Database, who: Identity, hub_id: uuid.UUID, args: dict[str, Any]
) -> dict[str, Any]:
    """Every movement of a hub, oldest first (filtered by year and line), a page at a time."""
    ops.require_lead(who, hub_id)
    with db.read() as s:
        rows, cursor = page(
            s,
            _transfers_query(hub_id, args),
            key=Transfer.created_at,
            ident=Transfer.id,
            limit=args["limit"],
            cursor=args.get("cursor"),
        )
        reversed_by = _reversed_by(s, [r.id for r in rows])
        items = [transfer_view(r, reversed_by.get(r.id)) for r in rows]
    return {"items": items, "next_cursor": cursor}


CSV_HEADER = (
    "created_at",
    "id",
    "financial_year",
    "line",
    "kind",
    "amount_pence",
    "allocated",
    "committed",
    "spent",
    "income",
    "refunds",
    "booked_on",
    "source",
    "description",
    "reference",
    "note",
    "pending_id",
    "reverses_id",
    "booking_id",
    "match_id",
    "payment_intent",
    "charge",
    "refund_id",
    "checkout_session",
    "origin",
    "forced",
    "created_by",
)


#: The transfer columns behind CSV_HEADER (the effect columns are the ``d_*`` ones).
_CSV_COLUMNS = tuple(f"d_{name}" if name in BALANCES else name for name in CSV_HEADER)


def transfers_csv(db: Database, who: Identity, hub_id: uuid.UUID, args: dict[str, Any]) -> Response:
    """Every movement matching the filters (no paging: a spreadsheet wants them all)."""
    ops.require_lead(who, hub_id)
    columns = [getattr(Transfer, name) for name in _CSV_COLUMNS]
    query = _transfers_query(hub_id, args).with_only_columns(*columns)
    with db.read() as s:
        rows = s.execute(
            query.order_by(Transfer.created_at, Transfer.id).execution_options(yield_per=2000)
        )
        out = [_csv_row(row) for row in rows]
    name = "-".join(
        filter(None, ["transfers", str(hub_id), args.get("financial_year"), args.get("line")])
    )
    return csv_response(CSV_HEADER, out, f"{name}.csv")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _csv_row(row: Sequence[Any]) -> list[Any]:
    created_at, *rest = row
    return [created_at.strftime("%Y-%m-%dT%H:%M:%SZ"), *(_cell(v) for v in rest)]


def safe_cell(value: Any) -> Any:
    """Neutralise what a spreadsheet would run as a formula (CSV injection): a text cell
    starting with ``= + - @``, a tab or a carriage return gets a leading apostrophe.
    Numbers stay numbers (a negative effect is a number, not a formula)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_response(header: Sequence[str], rows: Iterable[Sequence[Any]], filename: str) -> Response:
    """CSV that Excel opens as it should: UTF-8 with a byte-order mark (else it guesses
    the Windows code page and mangles "£" and accents), CRLF, every cell quoted as
    needed, formulas neutralised."""
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    resp = Response(buf.getvalue().encode("utf-8"), mimetype="text/csv")
    resp.headers["Content-Type"] = "text/csv; charset=utf-8"
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
