"""``eyhub up``: everything ready or nothing running."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import requests

from tests.support.backends import Backend
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e


def _children(pid: int) -> dict[int, int]:
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


def _descendants(pid: int) -> set[int]:
    table = _children(pid)
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, parent in table.items() if parent in frontier} - found
        found |= frontier
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pids: set[int]) -> set[int]:
    table = _children(0)
    return {p for p in pids if p in table}


def test_up_is_ready_and_a_dead_service_stops_everything(embedded: Backend) -> None:
    platform = Platform(embedded).start()
    try:
        ready = requests.get(platform.url + "/readyz?deep=1", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["services"]["ok"] is True
        for offset in range(1, 5):
            assert requests.get(platform.service_url(offset) + "/readyz", timeout=10).ok

        family = _descendants(platform.proc.pid)  # type: ignore[union-attr]
        parents = _children(0)
        masters = [
            p
            for p in family
            if _cmdline(p).endswith("serve bookings ") and parents[p] == platform.proc.pid  # type: ignore[union-attr]
        ]
        assert len(masters) == 1, [(p, _cmdline(p)) for p in family]
        assert len(family) >= 9  # 5 servers (+ their gunicorn workers) and 4 workers

        os.kill(masters[0], signal.SIGKILL)
        code = platform.proc.wait(60)  # type: ignore[union-attr]
        assert code != 0
        log = platform.log_tail(400)
        assert "bookings exited unexpectedly" in log
        assert "stopped" in log
        deadline = time.monotonic() + 10
        while _alive(family) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(family), [(p, _cmdline(p)) for p in _alive(family)]
    finally:
        platform.stop()


def test_sigterm_stops_every_child(embedded: Backend) -> None:
    platform = Platform(embedded).start()
    try:
        family = _descendants(platform.proc.pid)  # type: ignore[union-attr]
        assert platform.stop() == 0
        assert "eyhub up: stopped" in platform.log_tail()
        deadline = time.monotonic() + 10
        while _alive(family) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(family)
    finally:
        platform.stop()
