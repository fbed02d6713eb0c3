"""The worker process of a service: bus consumers, outbox relay, periodic jobs, mail.

Each piece runs in its own thread; a piece that crashes is logged and restarted
after a pause, so one bad job cannot stop the relay. SIGTERM/SIGINT set a stop flag
that every loop watches, and the process exits once they have all returned.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.config import Settings
from shared.db import Database
from shared.logs import configure_logging

log = logging.getLogger("eyhub.worker")

Loop = Callable[[threading.Event], None]


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

    def every(self, seconds: float, name: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
        """Register a periodic job, run every ``seconds`` (measured from its end)."""

        def deco(fn: Callable[[], Any]) -> Callable[[], Any]:
            def run(stop: threading.Event) -> None:
                while not stop.is_set():
                    fn()
                    stop.wait(seconds)

            self.loops[name] = run
            return fn

        return deco

    def _supervise(self, name: str, fn: Loop) -> None:
        pause = 1.0
        while not self.stop.is_set():
            try:
                fn(self.stop)
                return
            except Exception:
                log.exception("worker loop crashed; restarting", extra={"loop": name})
                self.stop.wait(pause)
                pause = min(pause * 2, 30.0)

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
        while not self.stop.is_set():
            self.stop.wait(0.5)
        deadline = time.monotonic() + 10
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        log.info("worker stopped")
        return 0


def build_worker(component: str, settings: Settings) -> Worker:
    """A worker with the kernel's jobs (mail) and the service's own (``jobs.register``)."""
    import importlib

    from shared import mail
    from shared.migrations import upgrade

    configure_logging(f"{component}-worker", settings.log_level)
    if settings.should_migrate_at_start(component):
        upgrade(component, settings)
    db = Database(settings.database_url(component), name=component)
    worker = Worker(component=component, settings=settings, db=db)

    @worker.every(1.0, "mail")
    def _mail() -> None:
        mail.deliver_pending(db, settings)

    for hook in WORKER_HOOKS:
        hook(worker)
    jobs = importlib.import_module(f"services.{component}.jobs")
    jobs.register(worker)
    return worker


def _messaging(worker: Worker) -> None:
    from shared.messaging.runtime import install_worker

    install_worker(worker)


#: Kernel-wide additions to every worker (the messaging relay and consumers add theirs).
WORKER_HOOKS: list[Callable[[Worker], None]] = [_messaging]
