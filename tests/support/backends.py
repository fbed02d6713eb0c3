"""The two backends every server-touching test runs on.

``embedded``: SQLite files and kombu's filesystem transport in a temporary folder.
``server``: real PostgreSQL and RabbitMQ from ``EYHUB_TEST_DATABASE_URL`` and
``EYHUB_TEST_BROKER_URL``; each use gets fresh databases and its own bus namespace, so
tests never see each other's rows or messages. When the variables are set and a server
is down, the test fails (it never silently skips): ``require_servers`` raises.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from shared.config import COMPONENTS, Settings, load_settings

DB_VAR = "EYHUB_TEST_DATABASE_URL"
BROKER_VAR = "EYHUB_TEST_BROKER_URL"


def servers_configured() -> bool:
    return bool(os.environ.get(DB_VAR) and os.environ.get(BROKER_VAR))


def free_port_base(count: int = 5) -> int:
    """A base port with ``count`` consecutive free ports (the platform's layout)."""
    for _ in range(200):
        with closing(socket.socket()) as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + count > 65000:
            continue
        ok = True
        for port in range(base, base + count):
            with closing(socket.socket()) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free block of ports")


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def _pg_admin(sql: str) -> None:
    import psycopg

    url = os.environ[DB_VAR].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


def require_servers() -> None:
    """Fail loudly if the configured PostgreSQL or RabbitMQ does not answer."""
    from kombu import Connection

    _pg_admin("SELECT 1")
    with Connection(os.environ[BROKER_VAR], connect_timeout=5) as conn:
        conn.ensure_connection(max_retries=1, timeout=5)


@dataclass
class Backend:
    """Where one platform (or one in-process app) keeps its data."""

    name: str
    data_dir: Path
    token: str = field(default_factory=lambda: secrets.token_hex(4))
    created_dbs: list[str] = field(default_factory=list)

    @property
    def is_server(self) -> bool:
        return self.name == "server"

    def env(self, port_base: int | None = None) -> dict[str, str]:
        """Environment variables for processes (and ``load_settings``) on this backend."""
        env = {
            "EYHUB_DATA_DIR": str(self.data_dir),
            "EYHUB_PORT_BASE": str(port_base or 8080),
            "EYHUB_LOG_LEVEL": os.environ.get("EYHUB_TEST_LOG_LEVEL", "WARNING"),
        }
        if self.is_server:
            env["EYHUB_BROKER_URL"] = os.environ[BROKER_VAR]
            env["EYHUB_BUS_NAMESPACE"] = f"t{self.token}"
            for component in COMPONENTS:
                name = f"eyhub_{self.token}_{component}"
                env[f"EYHUB_{component.upper()}_DATABASE_URL"] = _with_database(
                    os.environ[DB_VAR], name
                )
        return env

    def create(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.is_server:
            require_servers()
            for component in COMPONENTS:
                name = f"eyhub_{self.token}_{component}"
                _pg_admin(f'CREATE DATABASE "{name}"')
                self.created_dbs.append(name)

    def settings(self, port_base: int | None = None, **overrides: str) -> Settings:
        return load_settings({**self.env(port_base), **overrides})

    def destroy(self) -> None:
        if self.is_server:
            # Quorum queues outlive connections: remove this run's namespace.
            from kombu import Connection

            from eyhub.components import subscriptions
            from shared.messaging.topology import Topology

            with (
                contextlib.suppress(Exception),
                Connection(os.environ[BROKER_VAR], connect_timeout=5) as conn,
            ):
                Topology(self.settings(), subscriptions()).delete(conn.channel())
        for name in self.created_dbs:
            # Teardown must not mask the test's own result.
            with contextlib.suppress(Exception):
                _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created_dbs.clear()


def backend_names() -> list[str]:
    return ["embedded", "server"]
