"""One backoff policy for every retry in the kernel.

Worker loops that crash, consumers and relays that lose the broker, handler failures
parked for later, mail that the SMTP server refused, processes waiting for a peer to
come up: all wait ``base, 2·base, 4·base …`` up to ``cap`` between attempts, and start
again from ``base`` after a success. One place to read, tune and test that policy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = the first retry)."""
    return min(base * 2 ** max(attempt - 1, 0), cap)


@dataclass
class Backoff:
    """Backoff state of one loop: ``failed()`` gives the next pause, ``succeeded()`` resets."""

    base: float
    cap: float
    attempt: int = 0

    def failed(self) -> float:
        self.attempt += 1
        return backoff_delay(self.attempt, base=self.base, cap=self.cap)

    def succeeded(self) -> None:
        self.attempt = 0

    def pause(self, stop: threading.Event) -> bool:
        """Wait the next pause (or until ``stop``); True when stopping."""
        return stop.wait(self.failed())


def poll_until(
    condition: Callable[[], bool],
    timeout: float,
    *,
    base: float = 0.02,
    cap: float = 0.5,
    stop: Callable[[], bool] = lambda: False,
) -> bool:
    """Poll ``condition`` with backoff until it holds (True), ``timeout`` passes or ``stop``."""
    deadline = time.monotonic() + timeout
    backoff = Backoff(base, cap)
    while not stop():
        if condition():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(backoff.failed(), remaining))
    return False
