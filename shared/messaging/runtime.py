"""Wiring into the kernel: the worker's relay/consumer loops, readiness and gauges."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete

from shared import metrics
from shared.db import Database, utcnow
from shared.messaging import dead_letters, outbox
from shared.messaging.inbox import Consumer, Registry
from shared.messaging.models import InboxEntry, OutboxMessage
from shared.messaging.topology import Subscription, Topology

if TYPE_CHECKING:
    from shared.worker import Worker

log = logging.getLogger("eyhub.messaging")


def status(db: Database) -> dict[str, Any]:
    """Outbox backlog and dead-letter count (readiness details and gauges)."""
    return {"outbox_backlog": outbox.backlog(db), "dead_letters": dead_letters.count(db)}


def prune(db: Database, retention_days: float) -> None:
    """Forget sent outbox rows and inbox ids older than the redelivery window."""
    cutoff = utcnow() - timedelta(days=retention_days)
    with db.transaction() as s:
        s.execute(delete(OutboxMessage).where(OutboxMessage.sent_at < cutoff))
        s.execute(delete(InboxEntry).where(InboxEntry.handled_at < cutoff))


def install_worker(
    worker: Worker, subscriptions: tuple[Subscription, ...], handlers: Registry | None
) -> None:
    """Add the outbox relay, the service's consumers (if it has handlers) and upkeep.

    The consumer checks ``handlers`` against the topology first: a worker whose
    bindings and handlers disagree does not start.
    """
    topology = Topology(worker.settings, subscriptions)
    relay = outbox.Relay(worker.component, worker.settings, worker.db, topology)
    worker.loop("outbox-relay")(relay.run)
    worker.extras["relay"] = relay
    consumer = Consumer(
        worker.component,
        worker.settings,
        worker.db,
        topology=topology,
        registry=handlers or Registry(worker.component),
    )
    if consumer.has_work:
        worker.loop("bus-consumer")(consumer.run)
        worker.extras["consumer"] = consumer

    @worker.every(5.0, "messaging-gauges")
    def _gauges() -> None:
        figures = status(worker.db)
        metrics.OUTBOX_BACKLOG.labels(worker.component).set(figures["outbox_backlog"])
        metrics.DEAD_LETTERS.labels(worker.component).set(figures["dead_letters"])

    @worker.every(3600.0, "messaging-prune", singleton_lock=True)
    def _prune() -> None:
        prune(worker.db, worker.settings.bus_retention_days)


def install_web(component: str, db: Database) -> tuple[str, Any]:
    """Readiness details for ``/readyz``; the gauges at ``/metrics`` are read at each scrape.

    Informational: a backlog or dead letters do not make the component unready (taking
    replicas out of service would not shrink either), and neither does a database not
    yet migrated to the messaging tables (the database check covers reachability).
    """

    def check() -> dict[str, Any]:
        try:
            return status(db)
        except Exception as exc:
            return {"unavailable": f"{type(exc).__name__}: {exc}"[:200]}

    def gauge(count: Any) -> Any:
        def read() -> float:  # evaluated at each scrape of /metrics
            try:
                return float(count(db))
            except Exception:
                return float("nan")

        return read

    metrics.OUTBOX_BACKLOG.labels(component).set_function(gauge(outbox.backlog))
    metrics.DEAD_LETTERS.labels(component).set_function(gauge(dead_letters.count))
    return ("messaging", check)
