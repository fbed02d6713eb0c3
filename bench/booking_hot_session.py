"""Hot session: many clients book one popular session through the gateway at once.

Starts the whole platform as real processes (``eyhub up``: gateway, services, workers)
on a fresh backend, has a hub lead create and publish an event with one session of
``--capacity`` places through the gateway, waits until the bookings service holds the
session's replica (delivered by the bus), then lets ``--clients`` concurrent clients
send ``--requests`` ``POST /api/bookings`` as distinct practitioners (keep-alive
connections, one request per practitioner).

Reported: confirmed bookings/s (confirmed places / time until the last confirmed
answer), every answer/s, p50/p99 latency over all requests, the waiting list, and the
raw database rate for comparison: the same critical section done bare with SQLAlchemy
on the same database in the same run (``SELECT ... FOR UPDATE`` a session-like row,
``INSERT`` a booking-like row, ``COMMIT``; ``BEGIN IMMEDIATE`` on SQLite) by N threads,
after the platform has stopped. Asserts nothing is oversold: confirmed <= capacity and
confirmed + waitlisted = requests, read back from the bookings database and the API.

Practitioners are written straight into the gateway's database with one shared
password hash, and their tokens signed with the gateway's own key exactly as
``POST /api/auth/token`` signs them: registering and logging in 1,500 people through
the API costs two argon2 hashes each (about 20 minutes on 2 cores) and measures
nothing this benchmark is about. The hub lead is made and logged in through the API.

Embedded backend (SQLite + filesystem broker) by default; PostgreSQL + RabbitMQ (fresh
databases and bus namespace for the run) when EYHUB_TEST_DATABASE_URL and
EYHUB_TEST_BROKER_URL are set. The last stdout line is one JSON object.

    .venv/bin/python bench/booking_hot_session.py [--quick] [--clients 64]
        [--capacity 1000] [--requests 1500]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import (  # noqa: E402
    Column,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
)

from shared.config import Settings  # noqa: E402
from shared.db import Database, make_engine, utcnow  # noqa: E402
from shared.messaging.testing import wait_until  # noqa: E402
from tests.support.backends import Backend, free_port_base, servers_configured  # noqa: E402
from tests.support.platform import Platform  # noqa: E402

PASSWORD = "bench-password-1234"


def say(msg: str) -> None:
    print(msg, flush=True)


def call(platform: Platform, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
    """One API call through the gateway; anything but success stops the benchmark."""
    resp = platform.request(method, path, token=token, **kw)
    if resp.status_code >= 300:
        raise RuntimeError(f"{method} {path} answered {resp.status_code}: {resp.text[:300]}")
    return resp.json() if resp.content else None


# -- set-up (not timed) ----------------------------------------------------------------
def hot_session(platform: Platform, capacity: int) -> tuple[str, str]:
    """A hub, its lead (through the API) and one published session; (session id, lead)."""
    admin = call(
        platform,
        "POST",
        "/api/auth/token",
        json={"email": "admin@example.org", "password": "admin-password"},
    )["access_token"]
    hub = call(
        platform,
        "POST",
        "/api/catalogue/hubs",
        admin,
        json={"name": f"Bench hub {secrets.token_hex(2)}", "region": "South East"},
    )["id"]
    lead_email = f"lead-{secrets.token_hex(3)}@example.org"
    call(
        platform,
        "POST",
        "/api/auth/users",
        admin,
        json={
            "email": lead_email,
            "password": PASSWORD,
            "name": "Lee Lead",
            "roles": ["hub_lead"],
            "hub_ids": [hub],
        },
    )
    lead = call(
        platform, "POST", "/api/auth/token", json={"email": lead_email, "password": PASSWORD}
    )["access_token"]
    starts = (datetime.now(UTC) + timedelta(days=14)).replace(
        hour=9, minute=30, second=0, microsecond=0
    )
    event = call(
        platform,
        "POST",
        "/api/catalogue/events",
        lead,
        json={
            "hub_id": hub,
            "title": "Early maths in play (the popular one)",
            "kind": "training",
            "summary": "Counting, pattern and shape through play.",
            "format": "in_person",
            "audience": ["childminder", "nursery"],
            "topics": ["mathematics"],
            "cpd_hours": 2,
            "price_pence": 0,
            "capacity": capacity,
            "venue": "Hub room 1, 1 High Street, Lewes",
        },
    )["id"]
    made = call(
        platform,
        "POST",
        f"/api/catalogue/events/{event}/sessions",
        lead,
        json={
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(),
            "capacity": capacity,
        },
    )
    call(platform, "POST", f"/api/catalogue/events/{event}/publish", lead)
    return made["items"][0]["id"], lead


def practitioners(settings: Settings, n: int) -> list[str]:
    """``n`` practitioner accounts in the gateway's database and a token for each."""
    from argon2 import PasswordHasher

    from gateway.keys import KeyRing
    from gateway.models import User, UserRole
    from shared.auth import issue_token

    shared_hash = PasswordHasher().hash(PASSWORD)
    now = utcnow()
    users = [
        {
            "id": uuid.uuid4(),
            "email": f"p{i}-{secrets.token_hex(3)}@example.org",
            "name": f"Practitioner {i}",
            "password_hash": shared_hash,
            "setting_type": "childminder",
            "is_active": True,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(n)
    ]
    db = Database(settings.database_url("gateway"))
    try:
        with db.transaction() as s:
            s.execute(insert(User), users)
            s.execute(
                insert(UserRole), [{"user_id": u["id"], "role": "practitioner"} for u in users]
            )
    finally:
        db.dispose()
    key = KeyRing(settings).signing_key
    return [
        issue_token(
            key.private_key,
            key.kid,
            settings,
            user_id=str(u["id"]),
            email=u["email"],
            name=u["name"],
            roles=["practitioner"],
            setting_type="childminder",
        )
        for u in users
    ]


def replica_present(settings: Settings, session_id: str) -> bool:
    from services.bookings.models import SessionReplica

    db = Database(settings.database_url("bookings"))
    try:
        with db.transaction() as s:
            return s.get(SessionReplica, uuid.UUID(session_id)) is not None
    finally:
        db.dispose()


# -- the burst (timed) -----------------------------------------------------------------
@dataclass
class Answer:
    started: float
    ended: float
    code: int
    status: str


def burst(
    base: int, session_id: str, tokens: list[str], clients: int
) -> tuple[float, list[Answer]]:
    """Every token books once, ``clients`` at a time; (start time, answers)."""
    body = json.dumps({"session_id": session_id})
    answers: list[Answer] = []
    lock = threading.Lock()
    todo = iter(tokens)
    gate = threading.Barrier(clients + 1)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", base, timeout=120)
        gate.wait()
        while True:
            with lock:
                token = next(todo, None)
            if token is None:
                break
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            t = time.perf_counter()
            try:
                conn.request("POST", "/api/bookings", body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                code = resp.status
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", base, timeout=120)
                data, code = str(exc).encode(), 0
            ended = time.perf_counter()
            status = json.loads(data).get("status", "") if code in (200, 201) else data[:200]
            with lock:
                answers.append(Answer(t, ended, code, str(status)))
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for th in threads:
        th.start()
    gate.wait()
    started = time.perf_counter()
    for th in threads:
        th.join()
    return started, answers


def stored_counts(settings: Settings, session_id: str) -> dict[str, int]:
    from services.bookings.models import Booking

    db = Database(settings.database_url("bookings"))
    try:
        with db.transaction() as s:
            rows = s.execute(
                select(Booking.status, func.count())
                .where(Booking.session_id == uuid.UUID(session_id))
                .group_by(Booking.status)
            ).all()
        return {status: int(n) for status, n in rows}
    finally:
        db.dispose()


# -- the raw database rate -------------------------------------------------------------
def raw_rate(url: str, threads: int, n: int) -> float:
    """Row lock + insert + commit, ``n`` times by ``threads`` threads; transactions/s."""
    meta = MetaData()
    hot = Table("bench_raw_session", meta, Column("id", Integer, primary_key=True))
    rows = Table(
        "bench_raw_booking",
        meta,
        Column("id", String(36), primary_key=True),
        Column("session_id", Integer),
        Column("user_id", String(64)),
        Column("status", String(20)),
    )
    if url.startswith("sqlite"):
        engine = make_engine(url)  # BEGIN IMMEDIATE: the write lock is the row lock
    else:
        engine = make_engine(url, pool_size=threads, max_overflow=0)
    try:
        meta.create_all(engine)
        with engine.begin() as conn:
            conn.execute(insert(hot).values(id=1))
        todo = iter(range(n))
        lock = threading.Lock()
        gate = threading.Barrier(threads + 1)

        def worker() -> None:
            gate.wait()
            while True:
                with lock:
                    i = next(todo, None)
                if i is None:
                    return
                with engine.begin() as conn:
                    conn.execute(select(hot.c.id).where(hot.c.id == 1).with_for_update())
                    conn.execute(
                        insert(rows).values(
                            id=str(uuid.uuid4()), session_id=1, user_id=f"u{i}", status="confirmed"
                        )
                    )

        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for th in pool:
            th.start()
        gate.wait()
        started = time.perf_counter()
        for th in pool:
            th.join()
        elapsed = time.perf_counter() - started
        meta.drop_all(engine)
        return n / elapsed
    finally:
        engine.dispose()


def cpu_by_process(root: int) -> dict[str, float]:
    """CPU seconds (user + system) under ``root``, per child of it (``serve bookings``,
    ``worker bookings``...) with everything that child forked; Linux ``/proc``.

    Load from other work on the machine changes the rates, not this: it tells what one
    booking costs each part of the platform, hence the best rate these cores could give.
    """
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        ticks[int(entry)] = int(fields[11]) + int(fields[12])
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    hz = os.sysconf("SC_CLK_TCK")
    out = {"up": ticks.get(root, 0) / hz}
    for child in children.get(root, []):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as fh:
                argv = fh.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        name = " ".join(a for a in argv if a)[-40:].split(" -m eyhub ")[-1]
        tree, todo = 0, [child]
        while todo:
            pid = todo.pop()
            tree += ticks.get(pid, 0)
            todo += children.get(pid, [])
        out[name] = out.get(name, 0.0) + tree / hz
    return out


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="400 requests on 300 places")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--capacity", type=int)
    parser.add_argument("--requests", type=int)
    parser.add_argument("--raw-threads", type=int, help="default: clients, at most 32")
    args = parser.parse_args()
    capacity = args.capacity or (300 if args.quick else 1000)
    n_requests = args.requests or (400 if args.quick else 1500)
    raw_threads = args.raw_threads or min(args.clients, 32)

    kind = "server" if servers_configured() else "embedded"
    label = "PostgreSQL + RabbitMQ" if kind == "server" else "SQLite + filesystem broker"
    tmp = Path(tempfile.mkdtemp(prefix="eyhub-bench-hot-"))
    backend = Backend(kind, tmp / "data")
    backend.create()
    base = free_port_base()
    settings = backend.settings(base)
    platform = Platform(
        backend,
        port_base=base,
        extra_env={"EYHUB_RATE_LIMIT_API": "100000000/minute", "EYHUB_LOG_LEVEL": "WARNING"},
    )
    try:
        say(
            f"hot session on {label}: {n_requests} bookings, {capacity} places, "
            f"{args.clients} clients"
        )
        t0 = time.perf_counter()
        platform.start()
        say(f"  platform up in {time.perf_counter() - t0:.1f}s")
        session_id, lead = hot_session(platform, capacity)
        tokens = practitioners(settings, n_requests)
        wait_until(
            lambda: replica_present(settings, session_id), timeout=60, what="the session replica"
        )
        # A cold bookings service fetches the gateway's signing keys on its first token.
        call(platform, "GET", "/api/bookings", lead)

        assert platform.proc is not None
        cpu_before = cpu_by_process(platform.proc.pid)
        own_before = time.process_time()
        started, answers = burst(base, session_id, tokens, args.clients)
        cpu_after = cpu_by_process(platform.proc.pid)
        client_cpu = time.process_time() - own_before
        cpu_ms = {
            name: round((spent - cpu_before.get(name, 0.0)) / n_requests * 1000, 2)
            for name, spent in sorted(cpu_after.items())
        }
        platform_cpu = sum(cpu_ms.values()) / 1000 * n_requests
        ended = max(a.ended for a in answers)
        bad = [a for a in answers if a.code not in (200, 201)]
        if bad:
            raise SystemExit(f"{len(bad)} requests failed, e.g. {bad[0].code}: {bad[0].status}")
        confirmed = [a for a in answers if a.status == "confirmed"]
        waitlisted = sum(a.status == "waitlisted" for a in answers)
        last_confirmed = max((a.ended for a in confirmed), default=ended)
        latencies = [a.ended - a.started for a in answers]

        stored = stored_counts(settings, session_id)
        avail = call(platform, "GET", f"/api/bookings/sessions/{session_id}/availability")
        stored_confirmed = stored.get("confirmed", 0)
        stored_waitlisted = stored.get("waitlisted", 0)
        oversold = max(0, stored_confirmed - capacity)
        if (
            oversold
            or stored_confirmed != len(confirmed)
            or stored_waitlisted != waitlisted
            or stored_confirmed + stored_waitlisted != n_requests
            or (avail["confirmed"], avail["waitlisted"]) != (stored_confirmed, stored_waitlisted)
        ):
            raise SystemExit(
                f"inconsistent: answers {len(confirmed)}+{waitlisted}, stored {stored}, "
                f"availability {avail}, capacity {capacity}, requests {n_requests}"
            )
        platform.stop()

        raw = raw_rate(settings.database_url("bookings"), raw_threads, n_requests)
        result = {
            "confirmed_per_s": round(len(confirmed) / (last_confirmed - started), 1),
            "answered_per_s": round(len(answers) / (ended - started), 1),
            "p50_ms": round(pct(latencies, 50), 1),
            "p99_ms": round(pct(latencies, 99), 1),
            "raw_per_s": round(raw, 1),
            "ratio": round(len(confirmed) / (last_confirmed - started) / raw, 3),
            "oversold": oversold,
            "platform_cpu_ms_per_request": round(platform_cpu / n_requests * 1000, 2),
            "client_cpu_ms_per_request": round(client_cpu / n_requests * 1000, 2),
            "cpu_ms_per_request_by_process": {k: v for k, v in cpu_ms.items() if v >= 0.05},
            "confirmed": len(confirmed),
            "waitlisted": waitlisted,
            "requests": n_requests,
            "capacity": capacity,
            "clients": args.clients,
            "raw_threads": raw_threads,
            "backend": kind,
        }
        say(
            f"  {len(confirmed)} confirmed at {result['confirmed_per_s']}/s, "
            f"all answers {result['answered_per_s']}/s, p50 {result['p50_ms']} ms, "
            f"p99 {result['p99_ms']} ms, waitlisted {waitlisted}, oversold {oversold}"
        )
        say(
            f"  CPU per request: platform {result['platform_cpu_ms_per_request']} ms, "
            f"this client {result['client_cpu_ms_per_request']} ms ({os.cpu_count()} cores)"
        )
        say("    " + ", ".join(f"{k} {v}" for k, v in cpu_ms.items() if v >= 0.05))
        say(f"  raw row lock + insert + commit ({raw_threads} threads): {raw:.0f}/s")
        print(json.dumps(result), flush=True)
        return 0
    finally:
        platform.stop()
        backend.destroy()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
