"""``eyhub up``: everything ready or nothing running.

Stopping with SIGTERM (exit 0, no child left) is checked each time a shared platform
ends (``Platform.stop_cleanly`` in tests/conftest.py), not by a platform of its own."""

from __future__ import annotations

import os
import signal
import time

import pytest
import requests

from tests.support.backends import Backend
from tests.support.platform import Platform, alive, children, cmdline, descendants

pytestmark = pytest.mark.e2e


def test_up_is_ready_and_a_dead_service_stops_everything(embedded: Backend) -> None:
    platform = Platform(embedded).start()
    try:
        ready = requests.get(platform.url + "/readyz?deep=1", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["services"]["ok"] is True
        for offset in range(1, 5):
            assert requests.get(platform.service_url(offset) + "/readyz", timeout=10).ok

        family = descendants(platform.proc.pid)  # type: ignore[union-attr]
        parents = children(0)
        masters = [
            p
            for p in family
            if cmdline(p).endswith("serve bookings ") and parents[p] == platform.proc.pid  # type: ignore[union-attr]
        ]
        assert len(masters) == 1, [(p, cmdline(p)) for p in family]
        assert len(family) >= 9  # 5 servers (+ their gunicorn workers) and 4 workers

        os.kill(masters[0], signal.SIGKILL)
        code = platform.proc.wait(60)  # type: ignore[union-attr]
        assert code != 0
        log = platform.log_tail(400)
        assert "bookings exited unexpectedly" in log
        assert "stopped" in log
        deadline = time.monotonic() + 10
        while alive(family) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(family), [(p, cmdline(p)) for p in alive(family)]
    finally:
        platform.stop()
