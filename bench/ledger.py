"""Budget ledger: transfers per second, and a hub summary over 100,000 transfers.

Builds a fresh budget database (embedded SQLite by default; a throwaway database on the
PostgreSQL server of EYHUB_BENCH_DATABASE_URL or EYHUB_TEST_DATABASE_URL when set) and
measures, one transaction per transfer, one thread, in rounds (each round runs the three
rates back to back; the figures are the medians, as a shared machine's other load swings
single runs):

- ``ops_tps``: spends through ``services.budget.operations.spend`` (what the API and the
  bus handlers call: account row lock, idempotency lookup, transfer insert, balance
  update, monthly sums upsert, settings and alert checks);
- ``api_tps``: the same through ``POST /api/budget/hubs/{id}/spend`` with the Flask test
  client (token verification, validation, the read-back of the answer included);
- ``raw_tps``: the bare shape of it in the same run on the same engine, in SQLAlchemy
  Core statements — ``SELECT ... FOR UPDATE`` the account row (``BEGIN IMMEDIATE`` on
  SQLite), ``INSERT`` a transfer row, ``UPDATE`` the balance, ``COMMIT`` — and the
  ratios ``ops_tps / raw_tps`` and ``api_tps / raw_tps`` (the price of everything the
  ledger does beyond that);
- ``summary_p50_ms`` / ``summary_p99_ms``: ``GET /api/budget/hubs/{id}/summary`` for a
  hub-year of 100,000 transfers (bulk-inserted with their account rows and monthly sums,
  as the ledger keeps them), aim p50 < 100 ms; and, for contrast,
  ``aggregate_p50_ms``: the same figures computed the naive way, a ``GROUP BY`` over
  the 100,000 transfers.

A readable line per figure goes to stdout; the last stdout line is one JSON object.
``--quick`` (<= 60 s): fewer transfers and repeats.

    .venv/bin/python bench/ledger.py [--quick] [--transfers 1000] [--rounds 3]
        [--summary-transfers 100000] [--repeat 200]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import func, insert, select, text, update  # noqa: E402

from services.budget import operations as ops  # noqa: E402
from services.budget import years  # noqa: E402
from services.budget.app import create_app  # noqa: E402
from services.budget.models import (  # noqa: E402
    BALANCES,
    LINES,
    Account,
    AccountMonth,
    Funding,
    Transfer,
)
from shared.config import load_settings  # noqa: E402
from shared.db import Database  # noqa: E402
from tests.support.tokens import bearer, install_test_verifier, make_token  # noqa: E402

YEAR = "2026-27"
BIG = 10**12


def _pg_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    import psycopg

    name = f"eyhub_bench_{secrets.token_hex(4)}"
    plain = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlunsplit(urlsplit(plain)._replace(path="/" + name)), drop


def _fund(db: Database, hub: uuid.UUID) -> None:
    with db.transaction() as s:
        for line in LINES:
            ops.allocate(
                s,
                hub,
                transfer_id=uuid.uuid4(),
                financial_year=YEAR,
                line=line,
                amount=BIG,
                source="bench",
            )


def ops_rate(db: Database, n: int) -> float:
    hub = uuid.uuid4()
    _fund(db, hub)
    spent_on = date(2026, 9, 1)
    t0 = time.perf_counter()
    for i in range(n):
        with db.transaction() as s:
            ops.spend(
                s,
                hub,
                transfer_id=uuid.uuid4(),
                line=LINES[i % len(LINES)],
                amount=1 + i % 500,
                description="bench spend",
                spent_on=spent_on,
            )
    return n / (time.perf_counter() - t0)


def api_rate(app: Any, db: Database, n: int) -> float:
    hub = uuid.uuid4()
    _fund(db, hub)
    settings = app.extensions["eyhub"].settings
    headers = bearer(make_token(settings, roles=["hub_lead"], hub_ids=[str(hub)]))
    client = app.test_client()
    url = f"/api/budget/hubs/{hub}/spend"
    t0 = time.perf_counter()
    for i in range(n):
        body = {
            "line": LINES[i % len(LINES)],
            "amount_pence": 1 + i % 500,
            "description": "bench spend",
            "spent_on": "2026-09-01",
        }
        resp = client.post(url, json=body, headers=headers)
        if resp.status_code != 201:
            raise SystemExit(f"API spend failed: {resp.status_code} {resp.get_data(True)}")
    return n / (time.perf_counter() - t0)


def raw_rate(db: Database, n: int) -> float:
    """The bare critical section of a transfer, in SQL, on the same engine."""
    hub = uuid.uuid4()
    _fund(db, hub)
    with db.read() as s:
        accounts = list(
            s.scalars(select(Account.id).where(Account.hub_id == hub).order_by(Account.line))
        )
    add = insert(Transfer)
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    for i in range(n):
        account = accounts[i % len(accounts)]
        amount = 1 + i % 500
        with db.engine.begin() as conn:
            conn.execute(select(Account.spent).where(Account.id == account).with_for_update())
            conn.execute(
                add,
                {
                    "id": uuid.uuid4(),
                    "account_id": account,
                    "hub_id": hub,
                    "financial_year": YEAR,
                    "line": LINES[i % len(LINES)],
                    "kind": "spend",
                    "amount_pence": amount,
                    "d_allocated": 0,
                    "d_committed": 0,
                    "d_spent": amount,
                    "d_income": 0,
                    "d_refunds": 0,
                    "booked_on": date(2026, 9, 1),
                    "month": "2026-09",
                    "description": "raw spend",
                    "origin": "api",
                    "forced": False,
                    "fingerprint": "0" * 64,
                    "created_at": now,
                },
            )
            conn.execute(
                update(Account).where(Account.id == account).values(spent=Account.spent + amount)
            )
    return n / (time.perf_counter() - t0)


def build_hub(db: Database, n: int, rng: random.Random) -> uuid.UUID:
    """A hub-year of ``n`` transfers with the account rows and monthly sums the ledger
    would have kept (bulk insert: setup speed, not the ledger)."""
    hub = uuid.uuid4()
    now = datetime.now(UTC)
    accounts = {line: uuid.uuid4() for line in LINES}
    first, _ = years.bounds(YEAR)
    balances: dict[str, dict[str, int]] = {line: dict.fromkeys(BALANCES, 0) for line in LINES}
    months: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(BALANCES, 0))
    rows = []
    for i in range(n):
        line = LINES[i % len(LINES)]
        day = first + timedelta(days=rng.randrange(365))
        roll = rng.random()
        if i < len(LINES) * 4 or roll < 0.02:
            kind, field, amount = "allocation", "allocated", rng.randint(100_000, 5_000_000)
        elif roll < 0.10:
            kind, field, amount = "income", "income", rng.randint(500, 5_000)
        elif roll < 0.12:
            kind, field, amount = "refund", "refunds", rng.randint(100, 1_000)
        else:
            kind, field, amount = "spend", "spent", rng.randint(100, 20_000)
        effect = dict.fromkeys(BALANCES, 0)
        effect[field] = amount
        month = years.month_of(day)
        for name in BALANCES:
            balances[line][name] += effect[name]
            months[(line, month)][name] += effect[name]
        rows.append(
            {
                "id": uuid.uuid4(),
                "account_id": accounts[line],
                "hub_id": hub,
                "financial_year": YEAR,
                "line": line,
                "kind": kind,
                "amount_pence": amount,
                **{f"d_{name}": effect[name] for name in BALANCES},
                "booked_on": day,
                "month": month,
                "description": f"bench {kind}",
                "origin": "api",
                "forced": False,
                "fingerprint": "0" * 64,
                "created_at": now + timedelta(microseconds=i),
            }
        )
    fundings = [
        {
            "booking_id": uuid.uuid4(),
            "hub_id": hub,
            "event_id": uuid.uuid4(),
            "status": "posted",
            "financial_year": YEAR,
            "line": "training_delivery",
            "amount_pence": 5_000,
            "posted_pence": 5_000,
            "attendance": "attended" if i % 10 else "no_show",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(2_000)
    ]
    with db.transaction() as s:
        s.execute(
            insert(Account),
            [
                {
                    "id": accounts[line],
                    "hub_id": hub,
                    "financial_year": YEAR,
                    "line": line,
                    **balances[line],
                    "created_at": now,
                    "updated_at": now,
                }
                for line in LINES
            ],
        )
        s.execute(
            insert(AccountMonth),
            [
                {
                    "account_id": accounts[line],
                    "month": month,
                    "hub_id": hub,
                    "financial_year": YEAR,
                    **values,
                }
                for (line, month), values in months.items()
            ],
        )
        for start in range(0, len(rows), 5_000):
            s.execute(insert(Transfer), rows[start : start + 5_000])
        s.execute(insert(Funding), fundings)
    if db.dialect == "postgresql":
        with db.engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    return hub


def _timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    fn()  # warm: caches, pooled connection, prepared plans
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary_times(app: Any, hub: uuid.UUID, repeat: int) -> list[float]:
    settings = app.extensions["eyhub"].settings
    headers = bearer(make_token(settings, roles=["hub_lead"], hub_ids=[str(hub)]))
    client = app.test_client()
    url = f"/api/budget/hubs/{hub}/summary?financial_year={YEAR}"

    def once() -> None:
        resp = client.get(url, headers=headers)
        if resp.status_code != 200:
            raise SystemExit(f"summary failed: {resp.status_code}")

    return _timed(once, repeat)


def aggregate_times(db: Database, hub: uuid.UUID, repeat: int) -> list[float]:
    """The summary's figures straight from the transfers (what the monthly sums avoid)."""
    query = (
        select(
            Transfer.line,
            Transfer.month,
            *(func.sum(getattr(Transfer, f"d_{name}")) for name in BALANCES),
        )
        .where(Transfer.hub_id == hub, Transfer.financial_year == YEAR)
        .group_by(Transfer.line, Transfer.month)
    )

    def once() -> None:
        with db.read() as s:
            s.execute(query).all()

    return _timed(once, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer transfers and repeats")
    parser.add_argument("--transfers", type=int, help="transfers per rate and round (1,000)")
    parser.add_argument("--rounds", type=int, help="rounds of the three rates (default 3)")
    parser.add_argument("--summary-transfers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, help="summary requests (default 200)")
    args = parser.parse_args()
    n = args.transfers or (500 if args.quick else 1_000)
    rounds = args.rounds or (2 if args.quick else 3)
    repeat = args.repeat or (50 if args.quick else 200)
    postgres = os.environ.get("EYHUB_BENCH_DATABASE_URL") or os.environ.get(
        "EYHUB_TEST_DATABASE_URL"
    )
    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory() as tmp:
        env = {"EYHUB_DATA_DIR": tmp, "EYHUB_LOG_LEVEL": "WARNING", "EYHUB_AUTO_MIGRATE": "1"}
        drop = None
        if postgres:
            url, drop = _pg_database(postgres)
            env["EYHUB_BUDGET_DATABASE_URL"] = url
        try:
            app = create_app(load_settings(env))
            install_test_verifier(app)
            db = app.extensions["eyhub"].db
            print(
                f"budget ledger on {db.dialect}: {n} transfers per rate, one thread, "
                f"{rounds} rounds (raw, operations, API back to back; medians)"
            )
            raws, opses, apis = [], [], []
            for i in range(rounds):
                raws.append(raw_rate(db, n))
                opses.append(ops_rate(db, n))
                apis.append(api_rate(app, db, max(n // 2, 1)))
                print(
                    f"round {i + 1}: raw {raws[-1]:7.0f}/s  operations {opses[-1]:7.0f}/s  "
                    f"API {apis[-1]:7.0f}/s"
                )
            raw = statistics.median(raws)
            through_ops = statistics.median(opses)
            through_api = statistics.median(apis)
            print(f"raw SQL (lock, insert, update, commit): {raw:8.0f} transfers/s")
            print(f"operations.spend:                     {through_ops:8.0f} transfers/s")
            print(f"POST /spend (Flask test client):      {through_api:8.0f} transfers/s")
            t0 = time.perf_counter()
            hub = build_hub(db, args.summary_transfers, random.Random(7))
            setup = time.perf_counter() - t0
            summary = summary_times(app, hub, repeat)
            aggregate = aggregate_times(db, hub, max(repeat // 5, 5))
            s50, s99 = _p(summary, 0.5), _p(summary, 0.99)
            a50 = _p(aggregate, 0.5)
            print(
                f"summary over {args.summary_transfers} transfers (setup {setup:.1f}s): "
                f"p50 {s50:.2f} ms, p99 {s99:.2f} ms (aim p50 < 100 ms); "
                f"GROUP BY over the transfers instead: p50 {a50:.1f} ms"
            )
            db.dispose()
            result = {
                "backend": db.dialect,
                "transfers": n,
                "rounds": rounds,
                "raw_tps": round(raw),
                "ops_tps": round(through_ops),
                "api_tps": round(through_api),
                "ratio_ops_raw": round(through_ops / raw, 3),
                "ratio_api_raw": round(through_api / raw, 3),
                "summary_transfers": args.summary_transfers,
                "summary_p50_ms": round(s50, 2),
                "summary_p99_ms": round(s99, 2),
                "summary_aim_met": s50 < 100,
                "aggregate_p50_ms": round(a50, 2),
                "ratio_aggregate_summary": round(a50 / s50, 1),
                "setup_s": round(setup, 1),
            }
            print(json.dumps(result), flush=True)
        finally:
            if drop:
                drop()


if __name__ == "__main__":
    main()
