"""The worker process of a service: bus consumers, outbox relay, periodic jobs, mail.

Each piece runs in its own thread; a piece that crashes is logged and restarted
after a backoff pause, so one bad job cannot stop the relay. SIGTERM/SIGINT set a
stop flag that every loop watches, and the process exits once they have all returned.
The launcher (``eyhub/``) says what a service's worker runs: its handler registry,
its jobs and its migrations; the kernel adds mail delivery and the messaging loops.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.config import Settings
from shared.db import Database
from shared.logs import configure_logging
from shared.retry import Backoff
from shared.singleton import singleton

if TYPE_CHECKING:
    from shared.messaging.inbox import Registry
    from shared.messaging.topology import Subscription

log = logging.getLogger("eyhub.worker")

Loop = Callable[[threading.Event], None]
Jobs = Callable[["Worker"], None]


@dataclass
class Worker:
    component: str
    settings: Settings
    db: Database
    stop: threading.Event = field(default_factory=threading.Event)
    loops: dict[str, Loop] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def loop(self, name: str) -> Callable[[Loop], Loop]:
        """Register a long-running function; it must return soon after ``stop`` is set."""

        def deco(fn: Loop) -> Loop:
            self.loops[name] = fn
            return fn

        return deco

    def every(
        self, seconds: float, name: str, *, singleton_lock: bool = False
    ) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
        """Register a periodic job, run every ``seconds`` (measured from its end).

        ``singleton_lock``: across replicas of this worker only one runs the job at a
        time (``shared.singleton``); the others skip that round.
        """

        def deco(fn: Callable[[], Any]) -> Callable[[], Any]:
            def run(stop: threading.Event) -> None:
                while not stop.is_set():
                    if singleton_lock:
                        with singleton(self.db, f"{self.component}:{name}") as mine:
                            if mine:
                                fn()
                    else:
                        fn()
                    stop.wait(seconds)

            self.loops[name] = run
            return fn

        return deco

    def _supervise(self, name: str, fn: Loop) -> None:
        backoff = Backoff(base=1.0, cap=30.0)
        while not self.stop.is_set():
            try:
                fn(self.stop)
                return
            except Exception:
                log.exception("worker loop crashed; restarting", extra={"loop": name})
                backoff.pause(self.stop)

    def run(self) -> int:
        def _signal(signum: int, _frame: Any) -> None:
            log.info("stopping", extra={"signal": signal.Signals(signum).name})
            self.stop.set()

        signal.signal(signal.SIGTERM, _signal)
        signal.signal(signal.SIGINT, _signal)
        threads = [
            threading.Thread(target=self._supervise, args=(n, f), name=n, daemon=True)
            for n, f in self.loops.items()
        ]
        for t in threads:
            t.start()
        log.info("worker started", extra={"loops": sorted(self.loops)})
        self.stop.wait()
        deadline = time.monotonic() + 10
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        log.info("worker stopped")
        return 0


def build_worker(
    component: str,
    settings: Settings,
    *,
    subscriptions: tuple[Subscription, ...],
    migrations: Path | None = None,
    handlers: Registry | None = None,
    jobs: Jobs | None = None,
) -> Worker:
    """A worker with the kernel's loops (mail, relay, consumers) and the service's jobs.

    ``subscriptions`` is the whole bus topology (every process declares all of it);
    ``handlers`` the service's own registry, checked against it before anything runs.
    """
    from shared import mail
    from shared.messaging.runtime import install_worker
    from shared.migrations import upgrade

    configure_logging(f"{component}-worker", settings.log_level)
    if settings.should_migrate_at_start(component):
        upgrade(component, settings, migrations)
    db = Database(
        settings.database_url(component),
        name=component,
        lock_timeout=settings.lock_timeout_seconds,
    )
    worker = Worker(component=component, settings=settings, db=db)

    @worker.every(1.0, "mail")
    def _mail() -> None:
        mail.deliver_pending(db, settings)

    install_worker(worker, subscriptions, handlers)
    if jobs is not None:
        jobs(worker)
    return worker
