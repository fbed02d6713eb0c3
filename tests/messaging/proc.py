"""A real consumer or relay process for the messaging tests: ``python -m tests.messaging.proc
consumer|relay`` with the backend's environment (EYHUB_* variables)."""

from __future__ import annotations

import signal
import sys
import threading

from shared.config import load_settings
from shared.db import Database
from shared.logs import configure_logging
from shared.messaging.inbox import Consumer
from shared.messaging.outbox import Relay
from tests.messaging import things


def main(role: str) -> int:
    settings = load_settings()
    configure_logging(f"test-{role}", settings.log_level)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    topo = things.topology(settings)
    if role == "consumer":
        db = Database(settings.database_url(things.CONSUMER), name=things.CONSUMER)
        Consumer(things.CONSUMER, settings, db, topology=topo, registry=things.registry).run(stop)
    else:
        db = Database(settings.database_url(things.PRODUCER), name=things.PRODUCER)
        Relay(things.PRODUCER, settings, db, topo).run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
