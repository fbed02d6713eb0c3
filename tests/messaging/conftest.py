"""The ``bus`` fixture: producer (catalogue DB) and consumer (budget DB) on one backend,
with relays and consumers as threads or as real processes, and small retry settings."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import select

from eyhub.components import COMPONENTS
from shared.config import Settings, load_settings
from shared.db import Database
from shared.messaging.broker import connect
from shared.messaging.inbox import Consumer
from shared.messaging.models import reader
from shared.messaging.outbox import Relay
from shared.messaging.topology import Topology
from shared.migrations import upgrade
from tests.messaging import things
from tests.messaging.proxy import TcpProxy
from tests.support.backends import Backend

REPO = Path(__file__).resolve().parents[2]

FAST = {
    "EYHUB_BUS_MAX_ATTEMPTS": "3",
    "EYHUB_BUS_RETRY_BASE_SECONDS": "0.05",
    "EYHUB_BUS_RETRY_MAX_SECONDS": "0.2",
    "EYHUB_BUS_POLL_SECONDS": "0.02",
}


@dataclass
class Bus:
    backend: Backend
    overrides: dict[str, str] = field(default_factory=dict)
    proxied: bool = False
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    threads: list[tuple[threading.Thread, threading.Event]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.proxy: TcpProxy | None = None
        if self.proxied and self.backend.is_server:
            url = urlsplit(os.environ["EYHUB_TEST_BROKER_URL"])
            self.proxy = TcpProxy(url.hostname or "127.0.0.1", url.port or 5672).start()
            netloc = url.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{self.proxy.port}"
            self.overrides["EYHUB_BROKER_URL"] = urlunsplit(url._replace(netloc=netloc))
        self.settings = self.make_settings()
        for component in (things.PRODUCER, things.CONSUMER):
            upgrade(component, self.settings, COMPONENTS[component].migrations)
        self.producer_db = Database(self.settings.database_url(things.PRODUCER))
        self.consumer_db = Database(self.settings.database_url(things.CONSUMER))
        things.metadata.create_all(self.consumer_db.engine)
        self.topology: Topology = things.topology(self.settings)

    def make_settings(self, **more: str) -> Settings:
        return load_settings({**self.env(), **more})

    def env(self) -> dict[str, str]:
        return {**self.backend.env(), **FAST, **self.overrides}

    # -- running pieces ----------------------------------------------------------------
    def _thread(self, name: str, target: Any) -> threading.Event:
        stop = threading.Event()
        t = threading.Thread(target=target, args=(stop,), name=name, daemon=True)
        t.start()
        self.threads.append((t, stop))
        return stop

    def relay_thread(self, settings: Settings | None = None) -> Relay:
        relay = Relay(things.PRODUCER, settings or self.settings, self.producer_db, self.topology)
        self._thread("relay", relay.run)
        return relay

    def consumer_thread(self, settings: Settings | None = None) -> Consumer:
        settings = settings or self.settings
        consumer = Consumer(
            things.CONSUMER,
            settings,
            self.consumer_db,
            topology=things.topology(settings),
            registry=things.registry,
        )
        self._thread("consumer", consumer.run)
        return consumer

    def process(self, role: str, **env: str) -> subprocess.Popen[bytes]:
        log = open(self.backend.data_dir / f"{role}-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.messaging.proc", role],
            cwd=REPO,
            env={**os.environ, **self.env(), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for _t, stop in self.threads:
            stop.set()
        for t, _stop in self.threads:
            t.join(10)
        self.threads.clear()
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    # -- outage ------------------------------------------------------------------------
    def cut_broker(self) -> None:
        """Make the broker unreachable: cut the TCP proxy, or (embedded) put a plain file
        where the queue folder was, so every write and read of a message fails."""
        if self.proxy is not None:
            self.proxy.cut()
            return
        queues = self.settings.broker_dir / "queues"
        queues.rename(queues.with_name("queues.away"))
        queues.write_text("broker down")

    def restore_broker(self) -> None:
        if self.proxy is not None:
            self.proxy.restore()
            return
        queues = self.settings.broker_dir / "queues"
        away = queues.with_name("queues.away")
        if away.exists():
            queues.unlink(missing_ok=True)
            away.rename(queues)

    # -- looking -----------------------------------------------------------------------
    def applied(self) -> list[Any]:
        with reader(self.consumer_db).connect() as conn:
            rows = list(conn.execute(select(things.applied).order_by(things.applied.c.n)))
            conn.rollback()
            return rows

    def close(self) -> None:
        self.restore_broker()
        self.stop_all()
        if self.proxy is not None:
            self.proxy.cut()
        if self.backend.is_server:  # leave the shared vhost as we found it
            direct = self.make_settings(EYHUB_BROKER_URL=os.environ["EYHUB_TEST_BROKER_URL"])
            with contextlib.suppress(Exception), connect(direct) as conn:
                self.topology.delete(conn.channel())
        self.producer_db.dispose()
        self.consumer_db.dispose()


@pytest.fixture
def bus(backend: Backend) -> Iterator[Bus]:
    b = Bus(backend)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def proxied_bus(backend: Backend) -> Iterator[Bus]:
    """A bus whose broker can be cut: RabbitMQ behind a TCP proxy, or the embedded folder."""
    b = Bus(backend, proxied=True)
    try:
        yield b
    finally:
        b.close()
