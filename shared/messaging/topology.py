"""The bus topology: the one source of truth for exchanges, queues and their bindings.

Every process declares the *whole* topology when it connects (not only its own
queues), so a producer never publishes before its consumers' queues exist: with
mandatory publishing an unbound routing key is then a real configuration error
that the relay reports, never a race at start-up.

Names: exchange ``eyhub.events`` (topic, routing key = event type); one durable queue
per (consuming service, purpose) named ``<service>.<purpose>``; on RabbitMQ a direct
dead-letter exchange ``eyhub.dead-letters`` and one ``<service>.dead-letters`` queue
per service. With ``settings.bus_namespace`` every name gets the prefix ``<ns>.``.

The subscriptions are derived from the services' handler registries
(``subscriptions_from``), so a queue exists only for a consumer that runs and is bound
to exactly the types it handles: to consume a new event type, register a handler
(``shared.messaging.inbox.Registry.handles``). The launcher (``eyhub/components.py``)
collects the registries of every service; ``definitions()`` renders the result with
arguments for deploy/rabbitmq.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kombu import Exchange, Queue, binding

from shared.config import Settings

if TYPE_CHECKING:
    from shared.messaging.inbox import Registry

EVENTS_EXCHANGE = "eyhub.events"
DEAD_LETTER_EXCHANGE = "eyhub.dead-letters"
#: RabbitMQ dead-letters a message redelivered this many times (a handler that kills its
#: process every time); our own retries count handler *exceptions* (EYHUB_BUS_MAX_ATTEMPTS).
DELIVERY_LIMIT = 20


@dataclass(frozen=True)
class Subscription:
    """One durable queue: which service consumes it, its purpose, the event types bound."""

    service: str
    purpose: str
    binding_keys: tuple[str, ...]


def subscriptions_from(registries: Iterable[Registry]) -> tuple[Subscription, ...]:
    """One queue per (service, purpose) that has handlers, bound to the handled types."""
    subs = [
        Subscription(registry.service, purpose, tuple(sorted(by_type)))
        for registry in registries
        for purpose, by_type in registry.by_purpose().items()
    ]
    return tuple(sorted(subs, key=lambda s: (s.service, s.purpose)))


class Topology:
    """The kombu objects for one settings (namespace, transport) and subscription table."""

    def __init__(
        self,
        settings: Settings,
        subscriptions: tuple[Subscription, ...],
        *,
        server: bool | None = None,
    ) -> None:
        self.settings = settings
        self.subscriptions = subscriptions
        #: RabbitMQ features (quorum, DLX); virtual transports ignore queue arguments.
        self.server = (not settings.embedded_broker) if server is None else server
        seen: set[tuple[str, str]] = set()
        for sub in subscriptions:
            if (sub.service, sub.purpose) in seen:
                raise ValueError(f"queue {sub.service}.{sub.purpose} declared twice")
            seen.add((sub.service, sub.purpose))
        self._bound = frozenset(key for sub in subscriptions for key in sub.binding_keys)
        self.events = Exchange(self.name(EVENTS_EXCHANGE), type="topic", durable=True)
        self.dead_letters = Exchange(self.name(DEAD_LETTER_EXCHANGE), type="direct", durable=True)

    def name(self, base: str) -> str:
        ns = self.settings.bus_namespace
        return f"{ns}.{base}" if ns else base

    def queue_name(self, service: str, purpose: str) -> str:
        return self.name(f"{service}.{purpose}")

    def dead_letter_queue_name(self, service: str) -> str:
        return self.name(f"{service}.dead-letters")

    def subscription(self, service: str, purpose: str) -> Subscription:
        for sub in self.subscriptions:
            if (sub.service, sub.purpose) == (service, purpose):
                return sub
        raise LookupError(f"no queue {service}.{purpose} in the topology: no handler for it")

    def binds(self, event_type: str) -> bool:
        """Whether any queue takes ``event_type`` (routing keys are exact event types)."""
        return event_type in self._bound

    def _queue_arguments(self, name: str) -> dict[str, Any]:
        if not self.server:
            return {}
        return {
            "x-queue-type": "quorum",
            "x-single-active-consumer": True,  # in order per queue across worker replicas
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": self.dead_letters.name,
            "x-dead-letter-routing-key": name,
        }

    def queue(self, sub: Subscription) -> Queue:
        name = self.queue_name(sub.service, sub.purpose)
        return Queue(
            name,
            bindings=[binding(self.events, routing_key=key) for key in sub.binding_keys],
            durable=True,
            queue_arguments=self._queue_arguments(name),
        )

    def queues_for(self, service: str) -> list[Queue]:
        return [self.queue(s) for s in self.subscriptions if s.service == service]

    def dead_letter_queue(self, service: str) -> Queue:
        """Where RabbitMQ parks what it dead-letters from ``service``'s queues."""
        names = [self.queue_name(s.service, s.purpose) for s in self.subscriptions]
        mine = [n for s, n in zip(self.subscriptions, names, strict=True) if s.service == service]
        return Queue(
            self.dead_letter_queue_name(service),
            bindings=[binding(self.dead_letters, routing_key=n) for n in mine],
            durable=True,
            queue_arguments={"x-queue-type": "quorum"},
        )

    def services(self) -> list[str]:
        return sorted({s.service for s in self.subscriptions})

    def all_queues(self) -> list[Queue]:
        queues = [self.queue(s) for s in self.subscriptions]
        if self.server:
            queues += [self.dead_letter_queue(svc) for svc in self.services()]
        return queues

    def exchanges(self) -> list[Exchange]:
        return [self.events, self.dead_letters] if self.server else [self.events]

    def declare(self, channel: Any) -> None:
        """Declare every exchange, queue and binding (idempotent)."""
        for exchange in self.exchanges():
            exchange(channel).declare()
        for queue in self.all_queues():
            queue(channel).declare()

    def delete(self, channel: Any) -> None:
        """Remove everything ``declare`` made (tests clean their namespace with this)."""
        for queue in self.all_queues():
            queue(channel).delete()
        for exchange in self.exchanges():
            exchange(channel).delete()

    def describe(self) -> dict[str, Any]:
        """Every exchange and queue with arguments and bindings (definitions.json shape)."""
        return {
            "exchanges": [
                {
                    "name": e.name,
                    "type": e.type,
                    "durable": True,
                    "auto_delete": False,
                    "arguments": {},
                }
                for e in self.exchanges()
            ],
            "queues": [
                {
                    "name": q.name,
                    "durable": True,
                    "auto_delete": False,
                    "arguments": dict(q.queue_arguments or {}),
                    "bindings": [
                        {"exchange": b.exchange.name, "routing_key": b.routing_key}
                        for b in q.bindings
                    ],
                }
                for q in self.all_queues()
            ],
        }


def definitions(
    subscriptions: tuple[Subscription, ...], settings: Settings | None = None
) -> dict[str, Any]:
    """The production (RabbitMQ) topology, without namespace unless ``settings`` has one."""
    from pathlib import Path

    settings = settings or Settings(data_dir=Path("."))
    return Topology(settings, subscriptions, server=True).describe()
