"""Fixtures shared by the whole suite: backends, in-process apps, the real platform."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.backends import Backend, backend_names, servers_configured
from tests.support.platform import Platform


def _backend_param(name: str):  # type: ignore[no-untyped-def]
    marks = [pytest.mark.server] if name == "server" else []
    return pytest.param(name, marks=marks, id=name)


BACKEND_PARAMS = [_backend_param(n) for n in backend_names()]


def _skip_unless_configured(name: str) -> None:
    if name == "server" and not servers_configured():
        pytest.skip("EYHUB_TEST_DATABASE_URL / EYHUB_TEST_BROKER_URL not set")


@pytest.fixture(params=BACKEND_PARAMS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh, empty backend for one test (both kinds, per DESIGN.md §2)."""
    _skip_unless_configured(request.param)
    b = Backend(request.param, tmp_path / "data")
    b.create()
    yield b
    b.destroy()


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Backend]:
    """Only the embedded backend (for tests that are about our code, not the servers)."""
    b = Backend("embedded", tmp_path / "data")
    b.create()
    yield b
    b.destroy()


@pytest.fixture(scope="session", params=BACKEND_PARAMS)
def platform(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    """The whole platform with demo data, in real processes, shared by a session."""
    _skip_unless_configured(request.param)
    b = Backend(request.param, tmp_path_factory.mktemp(f"platform-{request.param}"))
    b.create()
    p = Platform(b)
    try:
        p.start(demo=True)
        yield p
    finally:
        p.stop()
        if os.environ.get("EYHUB_TEST_KEEP_LOGS") and p.log_path:
            print(p.log_tail(200))
        b.destroy()
