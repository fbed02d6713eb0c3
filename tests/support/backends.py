"""The two backends every server-touching test runs on.

``embedded``: SQLite files and kombu's filesystem transport in a temporary folder.
``server``: real PostgreSQL and RabbitMQ from ``EYHUB_TEST_DATABASE_URL`` and
``EYHUB_TEST_BROKER_URL``; each use gets its own databases and its own bus namespace, so
tests never see each other's rows or messages. When the variables are set and a server
is down, the test fails (it never silently skips): ``require_servers`` raises.

Both hand out databases that are already migrated, because migrating five databases
for every test was most of the suite's set-up time. Each component is migrated once
(``eyhub migrate`` into a template keyed by a hash of every migration script), then
copied: a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL. A
server test's databases are also recycled within the process (emptied and renamed)
rather than dropped: every ``DROP DATABASE`` forces a PostgreSQL checkpoint, which cost
2-8 s a test on the 2-core CI machine. ``Backend.create(migrated=False)`` still gives
empty databases, for what must cover migrating from nothing (the platform fixture).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import hashlib
import itertools
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from shared.config import COMPONENTS, Settings, load_settings

DB_VAR = "EYHUB_TEST_DATABASE_URL"
BROKER_VAR = "EYHUB_TEST_BROKER_URL"
#: The suite hashes passwords with argon2's cheapest parameters (gateway/operations.py).
HASH_PROFILE_VAR = "EYHUB_PASSWORD_HASH_PROFILE"
REPO = Path(__file__).resolve().parents[2]
#: Alembic's version tables: kept (not emptied) when a database is recycled.
VERSION_TABLES = ("alembic_version", "alembic_version_kernel")
#: Every component the suite starts serves /metrics with this token (shared/health.py).
METRICS_TOKEN = "suite-metrics-token-not-a-secret"
METRICS_AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def servers_configured() -> bool:
    return bool(os.environ.get(DB_VAR) and os.environ.get(BROKER_VAR))


def suite_hash_profile() -> str:
    """The password hash profile of the suite's processes: ``fast`` unless set."""
    return os.environ.get(HASH_PROFILE_VAR) or "fast"


def _ephemeral_low() -> int:
    """Where the kernel starts picking ports for client sockets and ``bind(0)``."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port_base(count: int = 6) -> int:
    """A base port with ``count`` consecutive free ports (the platform's layout).

    A block is picked at random below the ephemeral range: a platform's ports are free
    when checked but bound seconds later, and in between every outgoing connection of
    the suite (and any ``bind(0)``: single ports, the Stripe stand-ins of unit tests)
    takes an ephemeral port, which could otherwise be one of them.
    """
    if count == 1:
        # One port, bound at once by its user: let the kernel pick an ephemeral one,
        # which keeps single servers out of the range platforms take their blocks from.
        with closing(socket.socket()) as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    low = _ephemeral_low()
    floor = 20000 if low > 21000 + count else 1024
    for _ in range(200):
        base = random.randrange(floor, low - count)
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


def _admin_url() -> str:
    return os.environ[DB_VAR].replace("postgresql+psycopg://", "postgresql://")


#: One admin connection per process (pid, connection): a test's databases are made and
#: reset with a dozen statements, and a connection each cost more than the statements.
_admin: list[Any] = []
_admin_lock = threading.Lock()


def _admin_execute(sql: str, params: tuple[Any, ...] | None) -> list[tuple[Any, ...]]:
    import psycopg

    if not _admin or _admin[0] != os.getpid() or _admin[1].closed:
        _admin[:] = [os.getpid(), psycopg.connect(_admin_url(), autocommit=True, connect_timeout=5)]
    cur = _admin[1].execute(sql, params)
    return cur.fetchall() if cur.description else []


def _pg_admin(sql: str, params: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
    import psycopg

    with _admin_lock:
        try:
            return _admin_execute(sql, params)
        except psycopg.OperationalError:
            if not _admin or not _admin[1].broken:
                raise  # a real error, not a lost connection (a test restarted the server)
            _admin.clear()
            return _admin_execute(sql, params)


def require_servers() -> None:
    """Fail loudly if the configured PostgreSQL or RabbitMQ does not answer."""
    from kombu import Connection

    _pg_admin("SELECT 1")
    with Connection(os.environ[BROKER_VAR], connect_timeout=5) as conn:
        conn.ensure_connection(max_retries=1, timeout=5)


# --------------------------------------------------------------------------- templates


@functools.cache
def migrations_digest() -> str:
    """Hash of every migration script and of the code that runs them: a template is
    reused across runs only while none of them changed."""
    h = hashlib.sha256()
    files = [p for p in (REPO / "shared" / "migrations.py",) if p.exists()]
    for top in sorted(REPO.iterdir()):
        if top.is_dir() and not top.name.startswith(".") and top.name != "node_modules":
            files += [
                p
                for p in top.rglob("*.py")
                if any("migrations" in part for part in p.relative_to(REPO).parts[:-1])
            ]
    for path in sorted(set(files)):
        h.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def _eyhub_migrate(env: dict[str, str]) -> None:
    """``eyhub migrate`` (every component) in a clean environment plus ``env``."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("EYHUB_") or k.startswith("EYHUB_TEST_")
    }
    exe = str(Path(sys.executable).with_name("eyhub"))
    done = subprocess.run(
        [exe, "migrate"],
        cwd=REPO,
        env={**clean, "EYHUB_LOG_LEVEL": "WARNING", **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"eyhub migrate failed for a test template:\n{done.stdout}{done.stderr}")


@functools.cache
def sqlite_template() -> Path:
    """A folder with every component's migrated SQLite file (built once per digest;
    a file lock makes concurrent test processes build it once)."""
    root = Path(tempfile.gettempdir()) / "eyhub-test-templates"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"sqlite-{migrations_digest()}"
    with open(root / f"sqlite-{migrations_digest()}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (final / ".complete").exists():
            building = Path(tempfile.mkdtemp(prefix="building-", dir=root))
            try:
                _eyhub_migrate({"EYHUB_DATA_DIR": str(building)})
                (building / ".complete").touch()
                shutil.rmtree(final, ignore_errors=True)
                building.rename(final)
            finally:
                shutil.rmtree(building, ignore_errors=True)
    return final


def _template_name(component: str) -> str:
    return f"eyhub_tpl_{component}_{migrations_digest()}"


@functools.cache
def server_templates() -> dict[str, str]:
    """Component → a migrated PostgreSQL template database (built once per digest; an
    advisory lock makes concurrent test processes build it once). Templates refuse
    connections, so nothing can hold one open and block ``CREATE DATABASE ... TEMPLATE``;
    a template counts only once flagged, so an interrupted build is redone."""
    import psycopg

    names = {c: _template_name(c) for c in COMPONENTS}
    lock_key = int(migrations_digest(), 16) % (2**63)
    with psycopg.connect(_admin_url(), autocommit=True, connect_timeout=5) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (lock_key,))
        try:
            found = dict(
                conn.execute(
                    "SELECT datname, datistemplate FROM pg_database WHERE datname = ANY(%s)",
                    (list(names.values()),),
                ).fetchall()
            )
            if not all(found.get(n) for n in names.values()):
                for name in found:
                    conn.execute(f'ALTER DATABASE "{name}" IS_TEMPLATE false')
                    conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                for name in names.values():
                    conn.execute(f'CREATE DATABASE "{name}"')
                _eyhub_migrate(
                    {
                        "EYHUB_DATA_DIR": tempfile.mkdtemp(prefix="eyhub-tpl-"),
                        **{
                            f"EYHUB_{c.upper()}_DATABASE_URL": _with_database(os.environ[DB_VAR], n)
                            for c, n in names.items()
                        },
                    }
                )
                for name in names.values():
                    conn.execute(
                        f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false'
                    )
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key,))
    return names


# --------------------------------------------------------------------------- recycling

#: What a recycled database must still look like: its tables and migration versions.
Shape = tuple[frozenset[str], frozenset[tuple[str, str]]]


def _shape(cur: Any) -> Shape:
    tables = frozenset(
        r[0] for r in cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    )
    versions = frozenset(
        (t, r[0]) for t in VERSION_TABLES if t in tables for r in cur.execute(f"SELECT * FROM {t}")
    )
    return tables, versions


def _terminate(name: str) -> None:
    _pg_admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = %s AND pid <> pg_backend_pid()",
        (name,),
    )


def _drop(name: str) -> None:
    # Teardown must not mask the test's own result.
    with contextlib.suppress(Exception):
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _ServerPool:
    """This process's emptied, migrated databases waiting for the next test."""

    def __init__(self) -> None:
        self.spare: dict[str, list[str]] = {c: [] for c in COMPONENTS}
        self.shapes: dict[str, Shape] = {}
        self.serial = itertools.count()
        atexit.register(self.drop_all)

    def take(self, component: str, name: str) -> None:
        """Database ``name``: a spare renamed (cheap), else a copy of the template."""
        while self.spare[component]:
            spare = self.spare[component].pop()
            try:
                _pg_admin(f'ALTER DATABASE "{spare}" RENAME TO "{name}"')
                return
            except Exception:
                _drop(spare)
        # Nobody can be connected to a template (ALLOW_CONNECTIONS false): no retry.
        _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{server_templates()[component]}"')
        if component not in self.shapes:
            self.shapes[component] = self._inspect(name, lambda cur: _shape(cur))

    def give_back(self, component: str, name: str) -> None:
        """Empty ``name`` and keep it as a spare; drop it if it cannot be reset.

        Renamed first, so a thread or process left over from the test (it knows only
        the old name) cannot write into the next test's database."""
        spare = f"eyhub_spare_{os.getpid()}_{next(self.serial)}_{component}"
        try:
            _terminate(name)
            _pg_admin(f'ALTER DATABASE "{name}" RENAME TO "{spare}"')
        except Exception:
            _drop(name)
            return
        with contextlib.suppress(Exception):  # any doubt about a spare: drop it instead
            if self._inspect(spare, lambda cur: self._reset(component, cur)):
                self.spare[component].append(spare)
                return
        _drop(spare)

    def _reset(self, component: str, cur: Any) -> bool:
        """Delete every row and restart every sequence; False if the schema moved.

        Only tables with rows are truncated (a test writes to a few tables of one or
        two of its five databases), and TRUNCATE's new files are its cost."""
        from psycopg import sql

        expected = self.shapes.get(component)
        if expected is None:
            return False
        tables, versions = _shape(cur)
        if versions != expected[1] or not tables >= expected[0]:
            return False  # migrated elsewhere, or tables dropped: not a template copy
        for extra in sorted(tables - expected[0]):  # a test's own tables
            cur.execute(sql.SQL("DROP TABLE {} CASCADE").format(sql.Identifier(extra)))
        data = sorted(expected[0] - set(VERSION_TABLES))
        if data:
            probe = sql.SQL(" UNION ALL ").join(
                sql.SQL("SELECT {} WHERE EXISTS (SELECT FROM {})").format(
                    sql.Literal(t), sql.Identifier(t)
                )
                for t in data
            )
            used = [r[0] for r in cur.execute(probe).fetchall()]
            if used:
                cur.execute(
                    sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
                        sql.SQL(", ").join(sql.Identifier(t) for t in used)
                    )
                )
        for (seq,) in cur.execute(
            "SELECT sequencename FROM pg_sequences"
            " WHERE schemaname = 'public' AND last_value IS NOT NULL"
        ).fetchall():
            cur.execute(sql.SQL("ALTER SEQUENCE {} RESTART").format(sql.Identifier(seq)))
        return True

    @staticmethod
    def _inspect(name: str, work: Any) -> Any:
        import psycopg

        url = _with_database(_admin_url(), name)
        with psycopg.connect(url, connect_timeout=5) as conn, conn.cursor() as cur:
            result = work(cur)
            conn.commit()
            return result

    def drop_all(self) -> None:
        for names in self.spare.values():
            while names:
                _drop(names.pop())


@functools.cache
def server_pool() -> _ServerPool:
    return _ServerPool()


def drop_spare_databases() -> None:
    """Drop this process's recycled databases (the session is over)."""
    if server_pool.cache_info().currsize:
        server_pool().drop_all()


# --------------------------------------------------------------------------- backend


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

    def database_name(self, component: str) -> str:
        return f"eyhub_{self.token}_{component}"

    def env(self, port_base: int | None = None) -> dict[str, str]:
        """Environment variables for processes (and ``load_settings``) on this backend."""
        env = {
            "EYHUB_DATA_DIR": str(self.data_dir),
            "EYHUB_PORT_BASE": str(port_base or 8080),
            "EYHUB_LOG_LEVEL": os.environ.get("EYHUB_TEST_LOG_LEVEL", "WARNING"),
            HASH_PROFILE_VAR: suite_hash_profile(),
            "EYHUB_METRICS_TOKEN": METRICS_TOKEN,
        }
        if self.is_server:
            env["EYHUB_BROKER_URL"] = os.environ[BROKER_VAR]
            env["EYHUB_BUS_NAMESPACE"] = f"t{self.token}"
            for component in COMPONENTS:
                env[f"EYHUB_{component.upper()}_DATABASE_URL"] = _with_database(
                    os.environ[DB_VAR], self.database_name(component)
                )
        return env

    def create(self, *, migrated: bool = True) -> None:
        """Make the databases: copies of the migrated templates, or empty ones; and a
        signing key, one per test process (generating an RSA key costs more than most
        tests; tests/gateway/test_keys.py covers generating it)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        name, pem = _signing_key()
        keys = self.data_dir / "keys"
        keys.mkdir(mode=0o700, exist_ok=True)
        if not any(keys.glob("*.pem")):
            fd = os.open(keys / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
        if self.is_server:
            require_servers()
            for component in COMPONENTS:
                name = self.database_name(component)
                if migrated:
                    server_pool().take(component, name)
                else:
                    _pg_admin(f'CREATE DATABASE "{name}"')
                self.created_dbs.append(name)
        elif migrated:
            for db in sqlite_template().glob("*.db*"):
                shutil.copyfile(db, self.data_dir / db.name)

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
            component = name.rsplit("_", 1)[1]
            server_pool().give_back(component, name)
        self.created_dbs.clear()


@functools.cache
def _signing_key() -> tuple[str, bytes]:
    """A signing key made the gateway's way (file name and PEM), once per process."""
    from gateway.keys import rotate

    with tempfile.TemporaryDirectory() as tmp:
        path = rotate(Path(tmp))
        return path.name, path.read_bytes()


def backend_names() -> list[str]:
    return ["embedded", "server"]
