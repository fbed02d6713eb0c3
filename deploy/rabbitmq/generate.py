"""Write ``deploy/rabbitmq/definitions.json`` from the topology the code declares.

The topology is derived from the services' handler registries (``eyhub/components.py``
→ ``shared.messaging.topology.subscriptions_from``): a queue per consuming service and
purpose, bound to exactly the types its handlers take.

The broker is pre-declared at boot from that file (``load_definitions``) and every worker
declares the same exchanges and queues again through kombu; RabbitMQ refuses a
re-declaration whose arguments differ (406 PRECONDITION_FAILED). So the file is
*generated* from the topology the code declares, never hand-edited, and ``tests/deploy``
checks the committed file equals what this script writes.

Run: ``.venv/bin/python deploy/rabbitmq/generate.py`` (``--check`` exits 1 if stale).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = Path(__file__).resolve().parent / "definitions.json"

VHOST = "eyhub"

#: docker-compose only: RabbitMQ creates no default user when definitions load at boot, so
#: the file carries one. Production brokers import the file without ``users`` and
#: ``permissions`` (deploy/README.md) and keep their own credentials.
DEV_USER = "eyhub"
DEV_PASSWORD = "eyhub-dev-password"  # placeholder, development only
_DEV_SALT = b"eyhb"  # fixed, so the file is reproducible


def topology() -> dict[str, Any]:
    """The production (RabbitMQ, no namespace) topology as the code declares it."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from eyhub.components import subscriptions
    from shared.messaging.topology import definitions

    return definitions(subscriptions())


def password_hash(password: str, salt: bytes = _DEV_SALT) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def build_definitions(topo: dict[str, Any]) -> dict[str, Any]:
    """RabbitMQ's definitions format; sorted, since kombu keeps bindings in a set."""
    exchanges = [
        {
            "name": e["name"],
            "vhost": VHOST,
            "type": e["type"],
            "durable": e["durable"],
            "auto_delete": e["auto_delete"],
            "internal": False,
            "arguments": e["arguments"],
        }
        for e in sorted(topo["exchanges"], key=lambda e: e["name"])
    ]
    queues = sorted(topo["queues"], key=lambda q: q["name"])
    bindings = sorted(
        (
            {
                "source": b["exchange"],
                "vhost": VHOST,
                "destination": q["name"],
                "destination_type": "queue",
                "routing_key": b["routing_key"],
                "arguments": {},
            }
            for q in queues
            for b in q["bindings"]
        ),
        key=lambda b: (b["source"], b["destination"], b["routing_key"]),
    )
    return {
        "rabbit_version": "3.13.0",
        "users": [
            {
                "name": DEV_USER,
                "password_hash": password_hash(DEV_PASSWORD),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": ["administrator"],
            }
        ],
        "vhosts": [{"name": VHOST, "metadata": {"description": "eyhub events", "tags": []}}],
        "permissions": [
            {"user": DEV_USER, "vhost": VHOST, "configure": ".*", "write": ".*", "read": ".*"}
        ],
        "exchanges": exchanges,
        "queues": [
            {
                "name": q["name"],
                "vhost": VHOST,
                "durable": q["durable"],
                "auto_delete": q["auto_delete"],
                "arguments": dict(sorted(q["arguments"].items())),
            }
            for q in queues
        ],
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
    topo = topology()
    text = render(build_definitions(topo))
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT} is stale: run deploy/rabbitmq/generate.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(topo['queues'])} queues)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
