"""Catalogue search: the public listing over 50,000 sessions, filtered and paged.

Builds a fresh catalogue (embedded SQLite by default; ``--postgres URL`` makes a
throwaway database on that server), bulk-inserts hubs, events and sessions directly
(setup speed, not the API), then asks the listing in-process (Flask test client, so
only our code and the database are measured) with several filter sets at page sizes
10 and 100. SQL statements are counted with a SQLAlchemy ``before_cursor_execute``
listener (on SQLite that includes the BEGIN IMMEDIATE every transaction opens with).

Prints p50 latency and queries per request for each, and the ratios page 100 / page
10: queries per request must not grow with the page (no N+1), i.e. ratio 1.0. The last
stdout line is one JSON object (worst figures, then each filter set's).

PostgreSQL is used when ``--postgres`` is given or EYHUB_TEST_DATABASE_URL is set (the
server of the test suite); ``--quick`` lists 20,000 sessions 10 times per filter set.

    .venv/bin/python bench/catalogue_search.py [--quick] [--sessions 50000] [--repeat 25]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import event as sa_event  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from services.catalogue.app import create_app  # noqa: E402
from services.catalogue.models import (  # noqa: E402
    KINDS,
    CatalogueSession,
    Event,
    Hub,
    list_key,
)
from shared.config import load_settings  # noqa: E402
from shared.vocabulary import SETTING_TYPES, TOPICS  # noqa: E402

FORMATS = {"webinar": "online", "training": "in_person", "moderation": "hybrid"}
WORDS = [
    "Early maths through play",
    "Supporting speech and language",
    "Phonics foundations",
    "SEND and the graduated approach",
    "Outdoor learning in winter",
    "Safeguarding refresher",
    "Childminder network meeting",
    "EYFS profile moderation",
    "Leading a learning culture",
    "Expressive arts and design",
]


def build(db: Any, n_sessions: int, rng: random.Random) -> dict[str, Any]:
    """Hubs, events and sessions by bulk insert; returns ids for the filters."""
    now = datetime.now(UTC).replace(microsecond=0)
    hubs = [
        {
            "id": uuid.uuid4(),
            "name": f"Bench hub {i}",
            "region": "Region",
            "host_setting": None,
            "eip": None,
            "created_at": now,
        }
        for i in range(12)
    ]
    events = []
    n_events = max(n_sessions // 10, 1)
    for i in range(n_events):
        kind = KINDS[(i // 12) % len(KINDS)]  # every hub runs every kind
        audience = rng.sample(SETTING_TYPES, rng.randint(1, 3))
        topics = rng.sample(TOPICS, rng.randint(1, 3))
        title = f"{WORDS[i % len(WORDS)]} {i}"
        summary = "A practical session for early years practitioners."
        search = " ".join([title, summary, *topics, *(t.replace("_", " ") for t in topics)])
        events.append(
            {
                "id": uuid.uuid4(),
                "hub_id": hubs[i % len(hubs)]["id"],
                "title": title,
                "kind": kind,
                "summary": summary,
                "description": "",
                "format": FORMATS.get(kind, "in_person"),
                "audience": audience,
                "topics": topics,
                "audience_key": list_key(audience),
                "topics_key": list_key(topics),
                "search_text": search.lower(),
                "cpd_hours": 2,
                "price_pence": rng.choice([0, 0, 1500, 2500]),
                "funded_places": rng.choice([0, 5]),
                "cost_per_funded_place_pence": 0,
                "capacity": 20,
                "venue": "Hub room",
                "online_url": "https://meet.example.org/x",
                "status": "published" if i % 20 else "draft",
                "created_by": "bench",
                "created_at": now,
                "updated_at": now,
                "published_at": now,
            }
        )
    sessions = []
    for i in range(n_sessions):
        ev = events[i % n_events]
        start = now + timedelta(minutes=rng.randint(60, 730 * 24 * 60))
        sessions.append(
            {
                "id": uuid.uuid4(),
                "event_id": ev["id"],
                "hub_id": ev["hub_id"],
                "series_id": None,
                "starts_at": start,
                "ends_at": start + timedelta(hours=2),
                "capacity": 20,
                "venue": None,
                "status": "cancelled" if i % 50 == 0 else "scheduled",
                "sequence": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
    with db.transaction() as s:
        s.execute(insert(Hub), hubs)
        s.execute(insert(Event), events)
        for chunk in range(0, len(sessions), 5000):
            s.execute(insert(CatalogueSession), sessions[chunk : chunk + 5000])
    if db.dialect == "postgresql":
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    else:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    return {"hub": str(hubs[3]["id"]), "now": now}


def scenarios(ids: dict[str, Any]) -> dict[str, dict[str, str]]:
    now: datetime = ids["now"]
    return {
        "no filter": {},
        "hub + kind": {"hub_id": ids["hub"], "kind": "training"},
        "audience + topic": {"audience": "childminder", "topic": "mathematics"},
        "q (2 words)": {"q": "maths play"},
        "q (no match)": {"q": "zebra"},
        "window + format": {
            "from": (now + timedelta(days=30)).isoformat(),
            "to": (now + timedelta(days=60)).isoformat(),
            "format": "online",
        },
    }


def measure(app: Any, params: dict[str, str], limit: int, repeat: int) -> tuple[float, float, int]:
    """p50 ms, SQL statements per request, and items on the last page fetched."""
    client = app.test_client()
    engine = app.extensions["eyhub"].db.engine
    counted = [0]

    def on_execute(*_args: Any) -> None:
        counted[0] += 1

    sa_event.listen(engine, "before_cursor_execute", on_execute)
    times: list[float] = []
    queries: list[int] = []
    cursor = None
    items = 0
    try:
        for _ in range(repeat):
            query = {**params, "limit": str(limit)}
            if cursor:
                query["cursor"] = cursor  # walk pages: keyset cost must not grow
            counted[0] = 0
            t0 = time.perf_counter()
            resp = client.get(f"/api/catalogue/sessions?{urlencode(query)}")
            times.append((time.perf_counter() - t0) * 1000)
            queries.append(counted[0])
            assert resp.status_code == 200, resp.get_json()
            body = resp.get_json()
            items = len(body["items"])
            cursor = body["next_cursor"]
    finally:
        sa_event.remove(engine, "before_cursor_execute", on_execute)
    return statistics.median(times), statistics.mean(queries), items


def _pg_database(admin_url: str) -> tuple[str, Any]:
    import psycopg

    name = f"eyhub_bench_{secrets.token_hex(4)}"
    plain = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlunsplit(urlsplit(plain)._replace(path="/" + name)), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 sessions, 10 pages each")
    parser.add_argument("--sessions", type=int)
    parser.add_argument("--repeat", type=int)
    parser.add_argument("--postgres", help="admin URL of a PostgreSQL server to use instead")
    args = parser.parse_args()
    n_sessions = args.sessions or (20_000 if args.quick else 50_000)
    repeat = args.repeat or (10 if args.quick else 25)
    postgres = args.postgres or os.environ.get("EYHUB_TEST_DATABASE_URL")
    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory() as tmp:
        env = {"EYHUB_DATA_DIR": tmp, "EYHUB_LOG_LEVEL": "WARNING", "EYHUB_AUTO_MIGRATE": "1"}
        drop = None
        if postgres:
            url, drop = _pg_database(postgres)
            env["EYHUB_CATALOGUE_DATABASE_URL"] = url
        try:
            app = create_app(load_settings(env))
            db = app.extensions["eyhub"].db
            t0 = time.perf_counter()
            ids = build(db, n_sessions, random.Random(7))
            setup = time.perf_counter() - t0
            print(
                f"catalogue search over {n_sessions} sessions on {db.dialect} "
                f"(setup {setup:.1f}s, {repeat} pages each)"
            )
            print(
                f"{'filters':<18} {'p50 ms @10':>10} {'@100':>8} {'q/req @10':>10} "
                f"{'@100':>6} {'q ratio':>8} {'p50 ratio':>9}"
            )
            worst = 0.0
            figures: dict[str, dict[str, float]] = {}
            for name, params in scenarios(ids).items():
                p10, q10, _ = measure(app, params, 10, repeat)
                p100, q100, _ = measure(app, params, 100, repeat)
                ratio = q100 / q10
                worst = max(worst, ratio)
                figures[name] = {
                    "p50_ms_10": round(p10, 2),
                    "p50_ms_100": round(p100, 2),
                    "queries_10": round(q10, 2),
                    "queries_100": round(q100, 2),
                }
                print(
                    f"{name:<18} {p10:>10.2f} {p100:>8.2f} {q10:>10.1f} {q100:>6.1f} "
                    f"{ratio:>8.2f} {p100 / p10:>9.2f}"
                )
            print(f"queries per request, page 100 / page 10 (worst): {worst:.2f} (must be 1.00)")
            db.dispose()
            result = {
                "sessions": n_sessions,
                "backend": db.dialect,
                "worst_p50_ms_10": max(f["p50_ms_10"] for f in figures.values()),
                "worst_p50_ms_100": max(f["p50_ms_100"] for f in figures.values()),
                "worst_query_ratio": round(worst, 2),
                "setup_s": round(setup, 1),
                "scenarios": figures,
            }
            print(json.dumps(result), flush=True)
            if worst > 1.0:
                raise SystemExit("queries per request grow with the page size: N+1")
        finally:
            if drop:
                drop()


if __name__ == "__main__":
    main()
