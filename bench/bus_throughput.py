"""Bus throughput: events/second end-to-end through the messaging layer vs raw kombu.

End-to-end = outbox rows committed → relay (real process) publishes them with confirms
→ broker → consumer (real process) applies them with their inbox rows, exactly once.
Raw = a plain kombu publish/consume loop (persistent messages, a confirm per publish on
RabbitMQ, acks, no database) on the same broker in the same run.

Each round measures both, back to back on fresh databases and queues; the figures are
the median round of each (a shared machine's other load makes single rounds swing
either way by 2x), and every round is printed. The last line is one JSON object:
``{"raw_eps": …, "eyhub_eps": …, "ratio": …, "transport": …}``.

Embedded transport (filesystem + SQLite) by default; RabbitMQ + PostgreSQL when
EYHUB_TEST_BROKER_URL and EYHUB_TEST_DATABASE_URL are set.

    .venv/bin/python bench/bus_throughput.py [--quick] [--events 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kombu import Connection, Consumer, Exchange, Producer, Queue  # noqa: E402

from shared.config import load_settings  # noqa: E402
from shared.db import Database  # noqa: E402
from shared.messaging.broker import connect  # noqa: E402
from shared.messaging.testing import wait_for_handled  # noqa: E402
from shared.migrations import upgrade  # noqa: E402
from tests.messaging import things  # noqa: E402
from tests.support.backends import Backend, servers_configured  # noqa: E402


def _body(i: int) -> dict[str, object]:
    return {
        "id": f"00000000-0000-4000-8000-{i:012d}",
        "type": things.THING_CHANGED,
        "occurred_at": "2026-11-23T10:00:00Z",
        "source": "bench",
        "correlation_id": None,
        "causation_id": None,
        "version": 1,
        "data": {"key": f"k{i}", "seq": 1, "mode": "ok"},
    }


def raw_kombu(settings, n: int) -> float:  # type: ignore[no-untyped-def]
    """Publish n persistent messages and consume+ack them concurrently; events/s."""

    # The same transport the platform uses (on the embedded broker, kombu's filesystem
    # transport with atomic writes: the stock one lets a reader see half-written files).
    def conn() -> Connection:
        return connect(settings)

    ns = f"{settings.bus_namespace}." if settings.bus_namespace else ""
    exchange = Exchange(f"{ns}bench.raw", type="topic", durable=True)
    queue = Queue(f"{ns}bench.raw", exchange=exchange, routing_key="bench", durable=True)
    consumed = 0
    done = threading.Event()
    with conn() as c:
        queue(c.channel()).declare()

        def on_message(message) -> None:  # type: ignore[no-untyped-def]
            nonlocal consumed
            message.ack()
            consumed += 1
            if consumed >= n:
                done.set()

        def produce() -> None:
            with conn() as pc:
                channel = pc.channel()
                exchange(channel).declare()
                queue(channel).declare()
                producer = Producer(channel, exchange=exchange)
                for i in range(n):
                    producer.publish(_body(i), routing_key="bench", delivery_mode=2)

        started = time.perf_counter()
        publisher = threading.Thread(target=produce)
        publisher.start()
        with Consumer(c.channel(), [queue], on_message=on_message, prefetch_count=1):
            while not done.is_set():
                with contextlib.suppress(TimeoutError):
                    c.drain_events(timeout=1)
        elapsed = time.perf_counter() - started
        publisher.join()
        queue(c.channel()).delete()
        exchange(c.channel()).delete()
    return n / elapsed


def end_to_end(backend: Backend, n: int) -> float:
    env = {**os.environ, **backend.env(), "EYHUB_BUS_POLL_SECONDS": "0.02"}
    settings = load_settings(env)
    for component in (things.PRODUCER, things.CONSUMER):
        upgrade(component, settings, None)  # the kernel's tables are all the bench uses
    producer_db = Database(settings.database_url(things.PRODUCER))
    consumer_db = Database(settings.database_url(things.CONSUMER))
    things.metadata.create_all(consumer_db.engine)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.messaging.proc", role],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for role in ("consumer", "relay")
    ]
    try:
        with producer_db.transaction() as s:  # warm up: both processes connected
            warm = things.emit(s, "warm", 1)
        wait_for_handled(consumer_db, message_id=warm, timeout=60)
        with producer_db.transaction() as s:
            for i in range(n):
                things.emit(s, f"k{i}", 1)
        started = time.perf_counter()
        wait_for_handled(
            consumer_db, event_type=things.THING_CHANGED, count=n + 1, timeout=max(60, n / 20)
        )
        elapsed = time.perf_counter() - started
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        if backend.is_server:
            with connect(settings) as conn:
                things.topology(settings).delete(conn.channel())
        producer_db.dispose()
        consumer_db.dispose()
    return n / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 events a round")
    parser.add_argument("--events", type=int, help="events per round (default 2,000)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = args.events or (1000 if args.quick else 2000)
    kind = "server" if servers_configured() else "embedded"
    transport = "filesystem + SQLite" if kind == "embedded" else "RabbitMQ + PostgreSQL"
    print(f"bus throughput on {transport}, {n} events, {args.rounds} round(s)")
    tmp = Path(tempfile.mkdtemp(prefix="eyhub-bench-bus-"))
    raws: list[float] = []
    e2es: list[float] = []
    try:
        for r in range(args.rounds):
            backend = Backend(kind, tmp / f"round-{r}")
            backend.create()
            try:
                raws.append(raw_kombu(backend.settings(), n))
                e2es.append(end_to_end(backend, n))
            finally:
                backend.destroy()
            print(
                f"  round {r + 1}: raw kombu {raws[-1]:6.0f}/s, outbox -> broker -> inbox "
                f"{e2es[-1]:6.0f}/s ({e2es[-1] / raws[-1]:.2f})"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    raw, e2e = statistics.median(raws), statistics.median(e2es)
    print(f"  raw kombu publish/consume : {raw:8.0f} events/s (median round)")
    print(f"  outbox -> broker -> inbox : {e2e:8.0f} events/s (median round)")
    print(f"  ratio end-to-end / raw    : {e2e / raw:8.2f}")
    print(
        json.dumps(
            {
                "raw_eps": round(raw),
                "eyhub_eps": round(e2e),
                "ratio": round(e2e / raw, 2),
                "transport": transport,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
