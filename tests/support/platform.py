"""The real platform in real processes, for end-to-end tests.

``Platform.start`` runs ``eyhub up`` (gateway, four services, four workers) on free
ports in a temporary data folder and waits for its "ready" line, printed once every
component's own ``/readyz`` answers (eyhub/supervisor.py; the gateway's alone no longer
covers the services); ``stop`` sends SIGTERM and waits, so no process outlives the test
session.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.support.backends import Backend, free_port_base

REPO = Path(__file__).resolve().parents[2]


def children(pid: int) -> dict[int, int]:
    """Every live process → its parent, read from /proc."""
    table: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            table[int(entry.name)] = int(fields[1])
    return table


def descendants(pid: int) -> set[int]:
    table = children(pid)
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, parent in table.items() if parent in frontier} - found
        found |= frontier
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pids: set[int]) -> set[int]:
    table = children(0)
    return {p for p in pids if p in table}


@dataclass
class Platform:
    backend: Backend
    port_base: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    http: requests.Session = field(default_factory=requests.Session)
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port_base}"

    def service_url(self, offset: int) -> str:
        return f"http://127.0.0.1:{self.port_base + offset}"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, **self.backend.env(self.port_base), **self.extra_env}

    def start(self, *, demo: bool = False, timeout: float = 120.0) -> Platform:
        """``eyhub up`` on free ports; once more on other ports if one was taken between
        the check and the bind (another process of the suite got there first)."""
        try:
            return self._start(demo=demo, timeout=timeout)
        except RuntimeError:
            if "Address already in use" not in self.log_tail(200):
                raise
            self.port_base = 0
            return self._start(demo=demo, timeout=timeout)

    def _start(self, *, demo: bool, timeout: float) -> Platform:
        self.port_base = self.port_base or free_port_base()
        self.log_path = self.backend.data_dir / "platform.log"
        argv = [sys.executable, "-m", "eyhub", "up", "--ready-timeout", str(timeout)]
        if demo:
            # The static demo only: the suite makes its own payments and funded places
            # (the activity would add a burst of load at every shared platform's start).
            argv += ["--demo", "--no-demo-activity"]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                argv, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"eyhub up exited early:\n{self.log_tail()}")
            if "eyhub up: ready" in self.log_path.read_text(errors="replace"):
                return self
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"platform not ready in {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def stop_cleanly(self, timeout: float = 30.0) -> None:
        """SIGTERM, then check what ``eyhub up`` promises: exit status 0 and no child
        left running (every shared platform ends this way: tests/conftest.py)."""
        assert self.proc is not None
        family = descendants(self.proc.pid)
        code = self.stop(timeout)
        assert code == 0, f"eyhub up exited {code} on SIGTERM:\n{self.log_tail()}"
        assert "eyhub up: stopped" in self.log_tail()
        deadline = time.monotonic() + 10
        while alive(family) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = alive(family)
        assert not left, [(p, cmdline(p)) for p in left]

    # -- HTTP helpers ----------------------------------------------------------
    def request(self, method: str, path: str, *, token: str | None = None, **kw: Any):  # type: ignore[no-untyped-def]
        headers = dict(kw.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        kw.setdefault("timeout", 30)
        return self.http.request(method, self.url + path, headers=headers, **kw)

    def get(self, path: str, **kw: Any):  # type: ignore[no-untyped-def]
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any):  # type: ignore[no-untyped-def]
        return self.request("POST", path, **kw)

    def login(self, email: str, password: str) -> str:
        """A bearer token for this user (cached per platform)."""
        if email not in self._tokens:
            resp = self.post("/api/auth/token", json={"email": email, "password": password})
            resp.raise_for_status()
            self._tokens[email] = resp.json()["access_token"]
        return self._tokens[email]
