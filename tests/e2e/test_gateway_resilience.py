"""A service that goes down answers 503 at once through the gateway, and recovers when back.

Not on the shared ``platform``: ``eyhub up`` stops everything when a child dies, so
this starts the gateway and the catalogue as separate ``eyhub serve`` processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from tests.support.backends import Backend, free_port_base
from tests.support.platform import REPO

pytestmark = pytest.mark.e2e


def _wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


class Processes:
    def __init__(self, backend: Backend) -> None:
        self.base = free_port_base()
        self.env = {
            **os.environ,
            **backend.env(self.base),
            "EYHUB_BREAKER_FAIL_MAX": "2",
            "EYHUB_BREAKER_RESET_SECONDS": "1",
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        subprocess.run(
            [sys.executable, "-m", "eyhub", "migrate", "gateway", "catalogue"],
            cwd=REPO,
            env=self.env,
            check=True,
            capture_output=True,
        )

    def start(self, component: str) -> None:
        self.procs[component] = subprocess.Popen(
            [sys.executable, "-m", "eyhub", "serve", component],
            cwd=REPO,
            env=self.env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port = self.base + (0 if component == "gateway" else 1)
        _wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 60, component)

    def stop(self, component: str) -> None:
        proc = self.procs.pop(component)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)


@pytest.fixture
def procs(embedded: Backend) -> Iterator[Processes]:
    # The gateway's breaker and probes do not depend on the backend: the embedded one.
    p = Processes(embedded)
    try:
        yield p
    finally:
        p.stop_all()


def test_down_service_is_503_not_a_hang_and_recovers(procs: Processes) -> None:
    gateway = f"http://127.0.0.1:{procs.base}"
    url = f"{gateway}/api/catalogue/nothing-here"
    procs.start("catalogue")
    procs.start("gateway")
    assert requests.get(url, timeout=10).status_code == 404  # the catalogue's own answer

    procs.stop("catalogue")
    for _ in range(4):  # refused, refused (breaker opens), then open
        started = time.monotonic()
        resp = requests.get(url, timeout=10)
        assert resp.status_code == 503
        assert resp.headers["Content-Type"].startswith("application/problem+json")
        assert "Retry-After" in resp.headers
        assert time.monotonic() - started < 2
    # The gateway stays in its load balancer; the deep probe names the service down.
    assert requests.get(f"{gateway}/readyz", timeout=10).status_code == 200
    deep = requests.get(f"{gateway}/readyz?deep=1", timeout=10)
    assert deep.status_code == 503
    services = deep.json()["checks"]["services"]["services"]
    assert services["catalogue"]["ready"] is False
    assert services["catalogue"]["circuit"] in ("open", "half-open")  # not closed

    procs.start("catalogue")
    _wait_until(lambda: requests.get(url, timeout=10).status_code == 404, 30, "recovery")
