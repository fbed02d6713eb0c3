"""Fixtures shared by the whole suite: backends, in-process apps, the real platform."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.backends import (
    HASH_PROFILE_VAR,
    Backend,
    backend_names,
    drop_spare_databases,
    servers_configured,
    suite_hash_profile,
)
from tests.support.platform import Platform

# In-process gateways pick their password hasher when gateway.operations is first
# imported, which is after this file loads: cheap argon2 for the whole suite (processes
# started by the tests get the same through Backend.env).
os.environ[HASH_PROFILE_VAR] = suite_hash_profile()


def pytest_report_header(config: pytest.Config) -> str:
    servers = "on" if servers_configured() else "off (tests on it are deselected)"
    return f"eyhub: server backend {servers}; password hashes: {suite_hash_profile()}"


def _on_server(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec is not None else {}
    return item.get_closest_marker("server") is not None or "server" in (
        params.get("backend"),
        params.get("platform"),
    )


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests on the shared platform of one backend run on one xdist worker (so each
    backend's platform starts once: a second platform's twelve processes cost the other
    workers more CPU than its parallelism saved, measured with the fuzz run on its own);
    without PostgreSQL/RabbitMQ configured, server tests are deselected, not set up only
    to skip."""
    for item in items:
        if "platform" in getattr(item, "fixturenames", ()):
            callspec = getattr(item, "callspec", None)
            backend = callspec.params.get("platform", "any") if callspec else "any"
            item.add_marker(pytest.mark.xdist_group(f"platform-{backend}"))
    if servers_configured():
        return
    deselected = [item for item in items if _on_server(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not _on_server(item)]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Fail loudly if xdist stops honouring the platform group: it did silently on pytest
    9.2 (pytest-xdist#1386), and the shared platform then started on both workers."""
    if not getattr(session.config.option, "loadgroup", False):  # xdist workers, loadgroup
        return
    lost = [
        item.nodeid
        for item in session.items
        if "platform" in getattr(item, "fixturenames", ()) and "@" not in item.nodeid
    ]
    if lost:
        raise pytest.UsageError(
            f"--dist loadgroup did not group {len(lost)} shared-platform tests (e.g. "
            f"{lost[0]}): this pytest/xdist pair ignores xdist_group; see pyproject.toml"
        )


def pytest_sessionfinish(session: pytest.Session) -> None:
    drop_spare_databases()


def _backend_param(name: str):  # type: ignore[no-untyped-def]
    marks = [pytest.mark.server] if name == "server" else []
    return pytest.param(name, marks=marks, id=name)


BACKEND_PARAMS = [_backend_param(n) for n in backend_names()]


def _skip_unless_configured(name: str) -> None:
    if name == "server" and not servers_configured():
        pytest.skip("EYHUB_TEST_DATABASE_URL / EYHUB_TEST_BROKER_URL not set")


@pytest.fixture(params=BACKEND_PARAMS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh backend for one test, its databases migrated and empty (both kinds:
    docs/architecture.md, "Backends"); ``@pytest.mark.unmigrated``: not migrated."""
    _skip_unless_configured(request.param)
    b = Backend(request.param, tmp_path / "data")
    b.create(migrated=request.node.get_closest_marker("unmigrated") is None)
    yield b
    b.destroy()


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Backend]:
    """Only the embedded backend (for tests that are about our code, not the servers),
    migrated and empty."""
    b = Backend("embedded", tmp_path / "data")
    b.create()
    yield b
    b.destroy()


#: Limits lifted on the shared platform (see ``platform``).
SHARED_PLATFORM_LIMITS = {
    "EYHUB_RATE_LIMIT_LOGIN_IP": "100000/minute",
    "EYHUB_RATE_LIMIT_LOGIN_ACCOUNT": "100000/minute",
    "EYHUB_RATE_LIMIT_REGISTER": "100000/minute",
    "EYHUB_RATE_LIMIT_API": "100000/minute",
}


#: The shared platform runs on the embedded backend only: on two cores the suite cannot
#: also afford a second platform on PostgreSQL and RabbitMQ within its six minutes (every
#: service's own tests, the bus and the concurrency tests still run on both backends).
PLATFORM_PARAMS = [_backend_param("embedded")]


@pytest.fixture(scope="session", params=PLATFORM_PARAMS)
def platform(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    """The whole platform in real processes, shared by a session: embedded with the demo,
    migrated by ``eyhub up`` from empty databases; on the servers from the migrated
    templates and without the demo (what the server run adds is PostgreSQL and RabbitMQ
    under the same flows: the e2e tests make their own hubs, people and sessions; the
    suite's time on 2 cores is bounded).

    The schemathesis run (tests/e2e/test_gateway_schemathesis.py) shares it too, so its
    per-IP limits are out of the way: registrations, API calls and failed logins per IP
    across emails. The per-(IP, email) login limit keeps its default (an e2e test counts
    on it). It ends with a checked SIGTERM: exit 0 and no child left behind."""
    _skip_unless_configured(request.param)
    b = Backend(request.param, tmp_path_factory.mktemp(f"platform-{request.param}"))
    embedded = not b.is_server
    b.create(migrated=not embedded)  # `eyhub up` migrating from nothing: the embedded run
    p = Platform(b, extra_env=SHARED_PLATFORM_LIMITS)
    try:
        p.start(demo=embedded)
        yield p
        p.stop_cleanly()
    finally:
        p.stop()
        if os.environ.get("EYHUB_TEST_KEEP_LOGS") and p.log_path:
            print(p.log_tail(200))
        b.destroy()
