"""A real RabbitMQ accepts deploy/rabbitmq/definitions.json and the workers' declarations.

Boot-time definitions and kombu's declarations meet on every deployment: if their
arguments differed, each worker would die on 406 PRECONDITION_FAILED. This imports the
file (into a scratch vhost, as ``load_definitions`` would at boot), declares the code's
topology over it, and routes and dead-letters one message through it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml
from kombu import Connection, Exchange, Queue

from eyhub.components import subscriptions
from shared.config import load_settings
from shared.messaging.topology import Topology

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = ROOT / "deploy" / "rabbitmq" / "definitions.json"
BROKER_VAR = "EYHUB_TEST_BROKER_URL"

pytestmark = pytest.mark.server


def rabbitmqctl(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("rabbitmqctl")
    assert exe, f"{BROKER_VAR} is set but rabbitmqctl (to import definitions) is not on PATH"
    return subprocess.run([exe, "-q", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def scratch_broker() -> Iterator[str]:
    """An amqp URL on a fresh vhost holding exactly what definitions.json declares."""
    url = os.environ.get(BROKER_VAR)
    if not url:
        pytest.skip(f"{BROKER_VAR} not set")
    parts = urlsplit(url)
    vhost = f"eyhub_deploy_{secrets.token_hex(4)}"
    definitions = json.loads(DEFINITIONS.read_text())
    for kind in ("exchanges", "queues", "bindings"):
        for item in definitions[kind]:
            item["vhost"] = vhost
    definitions["vhosts"] = [{"name": vhost}]
    # The compose user under a scratch name: its password hash must let the compose
    # containers (EYHUB_BROKER_URL in docker-compose.yml) in.
    (user,) = definitions["users"]
    user["name"] = vhost
    (grant,) = definitions["permissions"]
    grant.update(user=vhost, vhost=vhost)
    # rabbitmqctl may run as the rabbitmq user: the file must be readable by others (it
    # holds no credentials), outside pytest's private tmp folder.
    fd, path = tempfile.mkstemp(prefix="eyhub-definitions-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(definitions, f)
        os.chmod(path, 0o644)
        imported = rabbitmqctl("import_definitions", path)
        assert imported.returncode == 0, imported.stderr or imported.stdout
        netloc = f"{vhost}:{compose_broker_password()}@{parts.hostname}:{parts.port or 5672}"
        yield urlunsplit(parts._replace(netloc=netloc, path="/" + vhost))
    finally:
        os.unlink(path)
        rabbitmqctl("delete_vhost", vhost)
        rabbitmqctl("delete_user", vhost)


def compose_broker_password() -> str:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    url = urlsplit(compose["services"]["gateway"]["environment"]["EYHUB_BROKER_URL"])
    assert url.password
    return url.password


def test_workers_declare_over_the_imported_definitions(scratch_broker: str) -> None:
    topology = Topology(load_settings({"EYHUB_BROKER_URL": scratch_broker}), subscriptions())
    assert topology.server
    with Connection(scratch_broker, connect_timeout=5) as conn:
        channel = conn.channel()
        topology.declare(channel)  # 406 here if the file and the code disagree

        events = Exchange("eyhub.events", type="topic", durable=True)
        queue = Queue("bookings.catalogue-sessions", no_declare=True)
        dead = Queue("bookings.dead-letters", no_declare=True)
        producer = conn.Producer(channel)
        producer.publish(
            {"type": "catalogue.session.scheduled"},
            exchange=events,
            routing_key="catalogue.session.scheduled",
            serializer="json",
            mandatory=True,
        )
        # Single-active-consumer queues refuse basic.get: consume, as the worker does.
        body, message = _receive(conn, queue)
        assert body == {"type": "catalogue.session.scheduled"}
        message.reject(requeue=False)  # what the consumer does after its last attempt
        body, message = _receive(conn, dead)
        assert body == {"type": "catalogue.session.scheduled"}
        message.ack()


def _receive(conn: Connection, queue: Queue) -> tuple[Any, Any]:
    """The next message of ``queue`` (routing and dead-lettering are asynchronous)."""
    got: list[tuple[Any, Any]] = []
    with conn.Consumer(queue, callbacks=[lambda b, m: got.append((b, m))], accept=["json"]):
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError, socket.timeout):
                conn.drain_events(timeout=max(0.1, deadline - time.monotonic()))
        if not got:
            pytest.fail(f"nothing arrived in {queue.name}")
        return got[0]
