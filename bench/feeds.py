"""Calendar feeds: a personal feed of 1,000 bookings versus icalendar writing it raw.

In-process (the bookings app behind Flask's test client: our code and the database,
no HTTP server, no gateway). One practitioner holds ``--bookings`` bookings on as many
sessions (mostly places, some on waiting lists, some cancelled, spread over the feed's
window), inserted in bulk; a feed is made through the API. Then, ``--repeat`` times:

- ``feed_ms``: ``GET /calendar/feeds/<token>.ics``, the whole 200 response;
- ``raw_ms``: the same VEVENTs (same properties, the same VTIMEZONE) built straight
  with ``icalendar`` and serialised with ``to_ical()``, from items fetched beforehand:
  the floor any feed built on ``icalendar`` pays;
- ``not_modified_p50_ms``: the revalidation calendar apps do on every poll, with
  ``If-None-Match`` (and, reported apart, ``If-Modified-Since``) answered 304.

The three are timed in turns, so load from other work hits them alike; this process's
CPU time per call is reported too (``*_cpu_ms``, ``ratio_cpu``), which such load barely
moves (on PostgreSQL it leaves out the server's share). Prints p50s and the ratio
feed / raw (aim <= 1.2) and the 304 p50 (aim <= 5 ms).
Embedded SQLite by default; PostgreSQL (a fresh database for the run) when
EYHUB_TEST_DATABASE_URL and EYHUB_TEST_BROKER_URL are set. The last stdout line is
one JSON object.

    .venv/bin/python bench/feeds.py [--quick] [--bookings 1000] [--repeat 21]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from icalendar import Calendar, Event, vDuration, vText  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from services.bookings import feeds  # noqa: E402
from services.bookings.app import create_app  # noqa: E402
from services.bookings.models import Booking, SessionReplica  # noqa: E402
from shared.calendar import LONDON, LONDON_TZID, PRODID, london_vtimezone  # noqa: E402
from shared.feeds import REFRESH, FeedItem  # noqa: E402
from tests.support.backends import Backend, servers_configured  # noqa: E402
from tests.support.tokens import bearer, install_test_verifier, make_token  # noqa: E402

HUB = uuid.UUID("11111111-1111-4111-8111-111111111111")


def populate(db: Any, user_id: str, n: int, rng: random.Random) -> None:
    """``n`` sessions and one booking of ``user_id`` on each, by bulk insert."""
    now = datetime.now(UTC).replace(microsecond=0)
    sessions, bookings = [], []
    for i in range(n):
        # Most upcoming, some in the last 90 days (still in the feed's window).
        starts = now + timedelta(hours=rng.randint(-80 * 24, 365 * 24))
        session_id = uuid.uuid4()
        sessions.append(
            {
                "id": session_id,
                "event_id": uuid.uuid4(),
                "hub_id": HUB,
                "hub_name": "North Hub",
                "title": f"Early maths through play, part {i}",
                "kind": "training",
                "format": "in_person" if i % 3 else "online",
                "summary": "Counting, pattern and shape through play; bring a favourite book.",
                "topics": ["mathematics"],
                "starts_at": starts,
                "ends_at": starts + timedelta(hours=2),
                "capacity": 20,
                "held_count": 1,
                "waitlist_count": 0,
                "status": "scheduled",
                "event_status": "published",
                "sequence": rng.choice([0, 0, 0, 1]),
                "price_pence": 0,
                "cpd_hours": 2,
                "venue": "Hub room 1, 1 High Street, Lewes" if i % 3 else None,
                "online_url": None if i % 3 else "https://meet.example.org/early-maths",
                "updated_at": now - timedelta(days=1),
            }
        )
        status = "confirmed"
        if i % 20 == 1:
            status = "waitlisted"
        elif i % 20 == 2 and starts > now:
            status = "cancelled"
        if status != "confirmed":
            sessions[-1].update(held_count=0, waitlist_count=int(status == "waitlisted"))
        bookings.append(
            {
                "id": uuid.uuid4(),
                "session_id": session_id,
                "user_id": user_id,
                "user_email": "pat@example.org",
                "user_name": "Pat Practitioner",
                "status": status,
                "waitlist_position": 1 if status == "waitlisted" else None,
                "invite_sequence": 0 if status == "confirmed" else None,
                "created_at": now - timedelta(days=2),
                "updated_at": now - timedelta(days=1),
            }
        )
    with db.transaction() as s:
        for chunk in range(0, n, 500):
            s.execute(insert(SessionReplica), sessions[chunk : chunk + 500])
            s.execute(insert(Booking), bookings[chunk : chunk + 500])
    with db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


def raw_calendar(items: list[FeedItem], name: str) -> bytes:
    """The feed's calendar written directly with icalendar (no eyhub code in the loop)."""
    cal = Calendar()
    cal.add("version", "2.0")
    cal.add("prodid", PRODID)
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("name", name)
    cal.add("x-wr-calname", vText(name))
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(REFRESH))
    cal.add_component(london_vtimezone())
    for item in items:
        ev = Event()
        ev.add("uid", item.uid)
        ev.add("dtstamp", item.changed_at)
        ev.add("dtstart", item.starts_at.astimezone(LONDON), parameters={"TZID": LONDON_TZID})
        ev.add("dtend", item.ends_at.astimezone(LONDON), parameters={"TZID": LONDON_TZID})
        ev.add("sequence", item.sequence)
        ev.add("status", item.status)
        ev.add("summary", item.summary)
        if item.description:
            ev.add("description", item.description)
        if item.location:
            ev.add("location", item.location)
        if item.url:
            ev.add("url", item.url)
        ev.add("last-modified", item.changed_at)
        cal.add_component(ev)
    return cal.to_ical()


def interleaved(
    fns: dict[str, Any], repeat: int
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, Any]]:
    """Wall and CPU milliseconds of ``repeat`` calls of each function, taken in turns (a
    change of load on the machine hits all alike), after one warm-up call each; and the
    last results. CPU time is this process's: other work on the machine barely moves it."""
    results = {name: fn() for name, fn in fns.items()}
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            w, c = time.perf_counter(), time.process_time()
            results[name] = fn()
            cpu[name].append((time.process_time() - c) * 1000)
            wall[name].append((time.perf_counter() - w) * 1000)
    return wall, cpu, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--bookings", type=int, default=1000)
    parser.add_argument("--repeat", type=int)
    args = parser.parse_args()
    repeat = args.repeat or (9 if args.quick else 21)
    logging.disable(logging.INFO)

    kind = "server" if servers_configured() else "embedded"
    tmp = Path(tempfile.mkdtemp(prefix="eyhub-bench-feeds-"))
    backend = Backend(kind, tmp / "data")
    backend.create()
    try:
        app = create_app(backend.settings(EYHUB_AUTO_MIGRATE="true", EYHUB_LOG_LEVEL="WARNING"))
        install_test_verifier(app)
        rt = app.extensions["eyhub"]
        db, settings = rt.db, rt.settings
        user_id = str(uuid.uuid4())
        populate(db, user_id, args.bookings, random.Random(7))
        client = app.test_client()
        token = make_token(settings, user_id=user_id, email="pat@example.org", name="Pat")
        made = client.post(
            "/api/bookings/calendar-feeds", json={"scope": "me"}, headers=bearer(token)
        )
        assert made.status_code == 201, made.get_json()
        path = made.get_json()["url"].removeprefix(settings.public_url)

        def get_feed() -> Any:
            resp = client.get(path)
            assert resp.status_code == 200, resp.status_code
            return resp

        with db.read() as s:
            items = feeds.my_items(s, settings, user_id)
        full = get_feed()

        def revalidate(header: str, value: str) -> Any:
            resp = client.get(path, headers={header: value})
            assert resp.status_code == 304, resp.status_code
            return resp

        times, cpu, results = interleaved(
            {
                "feed": get_feed,
                "raw": lambda: raw_calendar(items, "eyhub: my sessions"),
                "etag": lambda: revalidate("If-None-Match", full.headers["ETag"]),
                "since": lambda: revalidate("If-Modified-Since", full.headers["Last-Modified"]),
            },
            repeat,
        )
        raw = results["raw"]
        events = full.data.count(b"BEGIN:VEVENT")
        if events != raw.count(b"BEGIN:VEVENT") or events < args.bookings * 0.9:
            raise SystemExit(f"feed has {events} events, raw {raw.count(b'BEGIN:VEVENT')}")
        db.dispose()

        feed_ms = statistics.median(times["feed"])
        raw_ms = statistics.median(times["raw"])
        result = {
            "feed_ms": round(feed_ms, 1),
            "raw_ms": round(raw_ms, 1),
            "ratio": round(feed_ms / raw_ms, 2),
            "feed_cpu_ms": round(statistics.median(cpu["feed"]), 1),
            "raw_cpu_ms": round(statistics.median(cpu["raw"]), 1),
            "ratio_cpu": round(statistics.median(cpu["feed"]) / statistics.median(cpu["raw"]), 2),
            "not_modified_p50_ms": round(statistics.median(times["etag"]), 2),
            "if_modified_since_p50_ms": round(statistics.median(times["since"]), 2),
            "events": events,
            "bytes": len(full.data),
            "backend": kind,
        }
        print(
            f"personal feed of {events} events on {db.dialect} "
            f"({len(full.data) // 1024} KiB, {repeat} runs, in-process test client)"
        )
        print(f"  feed GET 200          p50 {feed_ms:8.1f} ms (CPU {result['feed_cpu_ms']} ms)")
        print(
            f"  icalendar raw         p50 {raw_ms:8.1f} ms (CPU {result['raw_cpu_ms']} ms)"
            f"   ratio {feed_ms / raw_ms:.2f} (CPU {result['ratio_cpu']})"
        )
        print(f"  If-None-Match 304     p50 {result['not_modified_p50_ms']:8.2f} ms")
        print(f"  If-Modified-Since 304 p50 {result['if_modified_since_p50_ms']:8.2f} ms")
        print(json.dumps(result), flush=True)
        return 0
    finally:
        backend.destroy()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
