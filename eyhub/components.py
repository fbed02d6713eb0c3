"""The components of the platform and what each hands to the kernel.

This is the one list of what runs: for each component its app factory, its
migrations folder, its bus handlers and its periodic jobs. The bus topology is
derived from the handlers here (a queue per consuming service and purpose), so adding
a consumer is registering a handler in that service and naming its registry below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gateway
import services.bookings
import services.budget
import services.catalogue
import services.mentoring
from services.bookings import handlers as bookings_handlers
from services.bookings import jobs as bookings_jobs
from services.budget import jobs as budget_jobs
from services.catalogue import jobs as catalogue_jobs
from services.mentoring import jobs as mentoring_jobs
from shared.config import COMPONENTS as COMPONENT_NAMES
from shared.config import SERVICES as SERVICE_NAMES
from shared.config import Settings
from shared.messaging.inbox import Registry, check_handlers
from shared.messaging.topology import Subscription, Topology, subscriptions_from
from shared.worker import Jobs, Worker, build_worker


@dataclass(frozen=True)
class Component:
    """What the kernel needs to run one component (the app factory is imported lazily:
    ``eyhub serve catalogue`` should not build the gateway's routes)."""

    name: str
    app_module: str
    migrations: Path
    handlers: Registry | None = None
    jobs: Jobs | None = None

    def create_app(self, settings: Settings) -> Any:
        import importlib

        return importlib.import_module(self.app_module).create_app(settings)


COMPONENTS: dict[str, Component] = {
    "gateway": Component("gateway", "gateway.app", gateway.MIGRATIONS),
    "catalogue": Component(
        "catalogue",
        "services.catalogue.app",
        services.catalogue.MIGRATIONS,
        jobs=catalogue_jobs.register,
    ),
    "bookings": Component(
        "bookings",
        "services.bookings.app",
        services.bookings.MIGRATIONS,
        handlers=bookings_handlers.handlers,
        jobs=bookings_jobs.register,
    ),
    "mentoring": Component(
        "mentoring",
        "services.mentoring.app",
        services.mentoring.MIGRATIONS,
        jobs=mentoring_jobs.register,
    ),
    "budget": Component(
        "budget", "services.budget.app", services.budget.MIGRATIONS, jobs=budget_jobs.register
    ),
}
if tuple(COMPONENTS) != COMPONENT_NAMES:  # ports and database URLs are keyed by these names
    raise RuntimeError("eyhub.components and shared.config.COMPONENTS disagree")
SERVICES: tuple[str, ...] = SERVICE_NAMES


def registries() -> list[Registry]:
    """Every service's handler registry (services without consumers have none)."""
    return [c.handlers for c in COMPONENTS.values() if c.handlers is not None]


def subscriptions() -> tuple[Subscription, ...]:
    """The bus topology: one queue per (service, purpose) that has handlers."""
    return subscriptions_from(registries())


def check_wiring(settings: Settings) -> None:
    """Every service's handlers against the topology (raises LookupError with reasons)."""
    topology = Topology(settings, subscriptions())
    for name in SERVICES:
        check_handlers(COMPONENTS[name].handlers or Registry(name), topology)


def worker_for(service: str, settings: Settings) -> Worker:
    """The worker of ``service``, with its handlers and jobs, checked against the topology."""
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
