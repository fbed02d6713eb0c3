"""The components of the platform and what each hands to the kernel.

This is the one list of what runs: for each component its app factory, its
migrations folder, its bus handlers and its periodic jobs. The bus topology is
derived from the handlers here (a queue per consuming service and purpose), so adding
a consumer is registering a handler in that service and naming its registry below.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from shared.config import COMPONENTS as COMPONENT_NAMES
from shared.config import SERVICES as SERVICE_NAMES
from shared.config import Settings
from shared.messaging.inbox import Registry, check_handlers
from shared.messaging.topology import Subscription, Topology, subscriptions_from
from shared.worker import Jobs, Worker, build_worker


@dataclass(frozen=True)
class Component:
    """What the kernel needs to run one component.

    Modules are named, not imported, until needed: ``eyhub serve catalogue`` should
    not import the gateway and bookings (each process starts faster), while a worker
    loads every service's handlers because it declares the whole topology.
    """

    name: str
    package: str
    #: ``module:attribute`` of the service's handler ``Registry``, if it consumes events
    handlers_ref: str | None = None
    has_jobs: bool = True

    def _module(self, name: str) -> Any:
        return importlib.import_module(f"{self.package}.{name}")

    @property
    def migrations(self) -> Path:
        return importlib.import_module(self.package).MIGRATIONS  # type: ignore[no-any-return]

    def create_app(self, settings: Settings) -> Any:
        return self._module("app").create_app(settings)

    @property
    def handlers(self) -> Registry | None:
        if self.handlers_ref is None:
            return None
        module, _, attr = self.handlers_ref.partition(":")
        registry: Registry = getattr(self._module(module), attr)
        return registry

    @property
    def jobs(self) -> Jobs | None:
        return self._module("jobs").register if self.has_jobs else None


COMPONENTS: dict[str, Component] = {
    "gateway": Component("gateway", "gateway", handlers_ref="handlers:handlers", has_jobs=False),
    "catalogue": Component("catalogue", "services.catalogue", handlers_ref="handlers:handlers"),
    "bookings": Component("bookings", "services.bookings", handlers_ref="handlers:handlers"),
    "mentoring": Component("mentoring", "services.mentoring", handlers_ref="handlers:handlers"),
    "budget": Component("budget", "services.budget", handlers_ref="handlers:handlers"),
}
if tuple(COMPONENTS) != COMPONENT_NAMES:  # ports and database URLs are keyed by these names
    raise RuntimeError("eyhub.components and shared.config.COMPONENTS disagree")
SERVICES: tuple[str, ...] = SERVICE_NAMES


def registries() -> list[Registry]:
    """Every service's handler registry (services without consumers have none)."""
    return [c.handlers for c in COMPONENTS.values() if c.handlers is not None]


@cache
def subscriptions() -> tuple[Subscription, ...]:
    """The bus topology: one queue per (service, purpose) that has handlers."""
    return subscriptions_from(registries())


def check_wiring(settings: Settings) -> None:
    """Every service's handlers against the topology (raises LookupError with reasons)."""
    topology = Topology(settings, subscriptions())
    for name, c in COMPONENTS.items():
        check_handlers(c.handlers or Registry(name), topology)


def worker_for(service: str, settings: Settings) -> Worker:
    """The worker of a component (every one has one: the gateway's relays identity
    events), with its handlers and jobs, checked against the topology."""
    c = COMPONENTS[service]
    return build_worker(
        service,
        settings,
        subscriptions=subscriptions(),
        migrations=c.migrations,
        handlers=c.handlers,
        jobs=c.jobs,
    )


def app_factory(component: str) -> Callable[[Settings], Any]:
    return COMPONENTS[component].create_app
