"""Write ``deploy/rabbitmq/definitions.json`` from the code's messaging topology.

The broker is pre-declared at boot from that file (``load_definitions``), and the workers
declare the same queues again through kombu; RabbitMQ refuses a re-declaration whose
arguments differ (406 PRECONDITION_FAILED), so the file must be *generated* from the
topology the code declares, never hand-edited. ``tests/deploy`` checks the committed file
equals what this script writes.

Run: ``.venv/bin/python deploy/rabbitmq/generate.py`` (``--check`` exits 1 if stale).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = Path(__file__).resolve().parent / "definitions.json"

VHOST = "eyhub"
EVENTS_EXCHANGE = "eyhub.events"
DEAD_LETTER_EXCHANGE = "eyhub.dead-letters"
DEAD_LETTER_SUFFIX = ".dead"

#: docker-compose only: RabbitMQ creates no default user when definitions load at boot, so
#: the file carries one. Production brokers import the file without ``users`` and
#: ``permissions`` (see deploy/README.md) and keep their own credentials.
DEV_USER = "eyhub"
DEV_PASSWORD = "eyhub-dev-password"  # placeholder, development only


@dataclass(frozen=True)
class Queue:
    """One durable queue per (consuming service, purpose), bound by routing-key patterns."""

    name: str
    routing_keys: tuple[str, ...]
    arguments: dict[str, Any] = field(default_factory=dict)


def _design_topology() -> list[Queue]:
    """DESIGN.md §4, used only while ``shared.messaging.topology`` does not exist yet."""
    return [
        Queue(
            "bookings.catalogue-sessions",
            ("catalogue.session.*", "catalogue.event.updated"),
        ),
        Queue("bookings.budget-funding", ("budget.funding.*",)),
        Queue(
            "budget.bookings-ledger",
            (
                "bookings.booking.*",
                "bookings.funding.requested",
                "bookings.attendance.recorded",
                "bookings.payment.*",
            ),
        ),
        Queue("budget.mentoring-time", ("mentoring.#",)),
    ]


def load_topology() -> tuple[str, list[Queue]]:
    """(source, queues): the code's topology when importable, else DESIGN.md §4."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        module = importlib.import_module("shared.messaging.topology")
    except ModuleNotFoundError as exc:
        if exc.name not in ("shared.messaging", "shared.messaging.topology"):
            raise
        return "DESIGN.md §4", _design_topology()
    return "shared.messaging.topology", _from_module(module)


def _from_module(module: Any) -> list[Queue]:
    raise NotImplementedError(  # replaced once the topology module's API is known
        f"adapt deploy/rabbitmq/generate.py to {module.__name__}"
    )


def queue_arguments(queue: Queue) -> dict[str, Any]:
    """Quorum, dead-lettered to the DLX under the queue's own name (so each has its DLQ)."""
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": queue.name,
        **queue.arguments,
    }


def _password_hash(password: str, salt: bytes) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def build_definitions(queues: list[Queue]) -> dict[str, Any]:
    def q(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "vhost": VHOST,
            "durable": True,
            "auto_delete": False,
            "arguments": arguments,
        }

    def binding(exchange: str, queue: str, key: str) -> dict[str, Any]:
        return {
            "source": exchange,
            "vhost": VHOST,
            "destination": queue,
            "destination_type": "queue",
            "routing_key": key,
            "arguments": {},
        }

    queues = sorted(queues, key=lambda x: x.name)
    declared = [q(x.name, queue_arguments(x)) for x in queues]
    declared += [
        q(x.name + DEAD_LETTER_SUFFIX, {"x-queue-type": "quorum"}) for x in queues
    ]
    bindings = [binding(EVENTS_EXCHANGE, x.name, key) for x in queues for key in x.routing_keys]
    bindings += [binding(DEAD_LETTER_EXCHANGE, x.name + DEAD_LETTER_SUFFIX, x.name) for x in queues]
    return {
        "rabbit_version": "3.13.0",
        "users": [
            {
                "name": DEV_USER,
                "password_hash": _password_hash(DEV_PASSWORD, salt=b"eyhb"),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": ["administrator"],
            }
        ],
        "vhosts": [{"name": VHOST, "metadata": {"description": "eyhub events", "tags": []}}],
        "permissions": [
            {"user": DEV_USER, "vhost": VHOST, "configure": ".*", "write": ".*", "read": ".*"}
        ],
        "exchanges": [
            {
                "name": name,
                "vhost": VHOST,
                "type": kind,
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
            for name, kind in ((EVENTS_EXCHANGE, "topic"), (DEAD_LETTER_EXCHANGE, "direct"))
        ],
        "queues": declared,
        "bindings": bindings,
        "policies": [],
        "parameters": [],
        "global_parameters": [],
        "topic_permissions": [],
    }


def render(definitions: dict[str, Any]) -> str:
    return json.dumps(definitions, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    source, queues = load_topology()
    text = render(build_definitions(queues))
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is stale: run deploy/rabbitmq/generate.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)} from {source} ({len(queues)} queues)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
