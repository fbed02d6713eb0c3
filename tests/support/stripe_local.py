"""stripe-local (shared/stripe_local) as a real process for tests, and a webhook receiver.

``StripeLocal`` starts ``python -m shared.stripe_local`` on a free loopback port with a
state file in a temporary folder, waits for its health check, hands out SDK clients pointed
at it and wraps every test control; it stops with SIGTERM (a kill if that takes over 5 s).
``WebhookReceiver`` is a loopback endpoint that records what arrives and can answer errors.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import requests
import stripe

from shared.messaging.testing import wait_until
from tests.support.backends import free_port_base

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port() -> int:
    return free_port_base(1)


class StripeLocal:
    """One stripe-local process; ``with StripeLocal(url) as s: s.client()...``."""

    def __init__(
        self,
        webhook_url: str | None = None,
        secret: str = "whsec_test_eyhub",
        *,
        state: Path | str | None = None,
        public_url: str | None = None,
        webhook_retry_delay: float = 0.05,
        webhook_max_attempts: int = 8,
        expiry_interval: float = 0.1,
    ) -> None:
        self.webhook_url = webhook_url
        self.secret = secret
        self._own_dir = None if state else tempfile.mkdtemp(prefix="stripe-local-")
        self.state = Path(state) if state else Path(self._own_dir or ".") / "stripe.db"
        self.public_url = public_url
        self.options = [
            "--webhook-retry-delay",
            str(webhook_retry_delay),
            "--webhook-max-attempts",
            str(webhook_max_attempts),
            "--expiry-interval",
            str(expiry_interval),
        ]
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.state.with_suffix(".log")
        self.http = requests.Session()

    # -- process --------------------------------------------------------------------------

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> Self:
        """Start on a fresh free port (the same one on a restart) and wait for healthz."""
        for _ in range(3):  # another process may take the port between pick and bind
            self.port = self.port or free_port()
            argv = [
                sys.executable,
                "-m",
                "shared.stripe_local",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--state",
                str(self.state),
                "--webhook-secret",
                self.secret,
                *self.options,
            ]
            if self.webhook_url:
                argv += ["--webhook-url", self.webhook_url]
            if self.public_url:
                argv += ["--public-url", self.public_url]
            log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ)
                )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                if self._healthy():
                    return self
                time.sleep(0.02)
            if self.proc.poll() is None:
                self.stop()
                raise TimeoutError(f"stripe-local not healthy in {timeout}s:\n{self.log_tail()}")
            with open(self.log_path, "rb") as log:
                log.seek(log_start)
                if b"Address already in use" not in log.read():
                    break
            self.port = 0
        raise RuntimeError(f"stripe-local exited early:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        try:
            return self.http.get(self.url("/_stripe_local/healthz"), timeout=1).ok
        except requests.ConnectionError:
            return False

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM and wait; kill if it is still running after ``timeout``."""
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

    def restart(self) -> Self:
        """Stop and start again on the same port and state file."""
        self.stop()
        return self.start()

    def close(self) -> None:
        self.stop()
        self.http.close()
        if self._own_dir:
            shutil.rmtree(self._own_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # -- clients --------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.api_base + path

    def client(self, api_key: str = "sk_test_eyhub", **kwargs: Any) -> stripe.StripeClient:
        """An SDK client as the product makes it (``max_network_retries`` etc. in kwargs)."""
        return stripe.StripeClient(api_key, base_addresses={"api": self.api_base}, **kwargs)

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call a ``/_stripe_local`` control; a non-2xx answer raises with its body."""
        response = self.http.request(
            method, self.url("/_stripe_local" + path), json=body, timeout=10
        )
        if not response.ok:
            raise ControlError(response.status_code, response.json())
        return response.json()

    # -- controls -------------------------------------------------------------------------

    def set_webhook_endpoint(self, url: str | None, secret: str) -> None:
        self.control("POST", "/webhooks/endpoint", {"url": url, "secret": secret})
        self.webhook_url, self.secret = url, secret

    def hold_webhooks(self) -> None:
        self.control("POST", "/webhooks/hold")

    def release_webhooks(self, order: str = "fifo") -> int:
        return self.control("POST", "/webhooks/release", {"order": order})["released"]

    def duplicate_next(self, copies: int) -> None:
        self.control("POST", "/webhooks/duplicate", {"copies": copies})

    def drop_next(self, count: int = 1) -> None:
        self.control("POST", "/webhooks/drop", {"count": count})

    def delay_next(self, seconds: float) -> None:
        self.control("POST", "/webhooks/delay", {"seconds": seconds})

    def deliveries(self, event_id: str | None = None) -> list[dict[str, Any]]:
        """Every delivery attempt: event_id, type, attempt, outcome, status, error, url, at."""
        query = f"?event_id={event_id}" if event_id else ""
        return self.control("GET", "/webhooks/deliveries" + query)["data"]

    def resend(self, event_id: str) -> None:
        self.control("POST", f"/events/{event_id}/resend")

    def fail_next(
        self,
        method: str,
        path: str,
        status: int = 500,
        type: str = "api_error",
        message: str = "An unknown error occurred",
        code: str | None = None,
        param: str | None = None,
        should_retry: bool | None = None,
    ) -> None:
        self.control(
            "POST",
            "/fail_next",
            {
                "method": method,
                "path": path,
                "status": status,
                "type": type,
                "message": message,
                "code": code,
                "param": param,
                "should_retry": should_retry,
            },
        )

    def next_refund_status(self, status: str) -> None:
        self.control("POST", "/refunds/next_status", {"status": status})

    def settle_refund(
        self, refund_id: str, status: str, failure_reason: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"status": status}
        if failure_reason:
            body["failure_reason"] = failure_reason
        return self.control("POST", f"/refunds/{refund_id}/settle", body)

    def tamper(self, charge_id: str, amount: int) -> dict[str, Any]:
        """Change the charge's balance transaction amount; returns the transaction."""
        return self.control("POST", f"/charges/{charge_id}/tamper", {"amount": amount})

    def payout(self, currency: str = "gbp") -> dict[str, Any]:
        return self.control("POST", "/payouts", {"currency": currency})

    def pay(self, session_id: str) -> dict[str, Any]:
        """Pay a Checkout Session as the hosted page's button does; returns the session."""
        return self.control("POST", f"/checkout/sessions/{session_id}/pay")

    def advance_clock(self, seconds: float) -> int:
        """Move the server's business time on; returns its new now."""
        return self.control("POST", "/clock", {"advance": seconds})["now"]


class ControlError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


@dataclass
class Received:
    """One webhook as it arrived."""

    body: bytes
    signature: str | None
    headers: dict[str, str]
    #: ``time.monotonic()`` on arrival.
    at: float

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


class WebhookReceiver:
    """A loopback HTTP endpoint recording every POST; ``fail_next(n, status)`` makes the
    next n answers errors (to see retries)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._taken = 0
        self._lock = threading.Lock()
        self._failures: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    status = receiver._failures.pop(0) if receiver._failures else 200
                    if status < 300:
                        receiver.received.append(
                            Received(
                                body,
                                self.headers.get("Stripe-Signature"),
                                dict(self.headers),
                                time.monotonic(),
                            )
                        )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None  # quiet: a test's receiver has no one to log to

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhook"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def drain(self) -> list[Received]:
        """Everything not handed out yet, in order (each delivery is handed out once:
        in-process tests pass them on to the app in the order they choose)."""
        with self._lock:
            out = self.received[self._taken :]
            self._taken = len(self.received)
        return out

    def take(self, type: str, count: int = 1, timeout: float = 10.0) -> list[Received]:
        """Wait until ``count`` webhooks of ``type`` are among those not handed out yet,
        then hand out all of those (of any type), in order."""

        def ready() -> bool:
            with self._lock:
                fresh = self.received[self._taken :]
            return sum(r.event["type"] == type for r in fresh) >= count

        wait_until(ready, timeout=timeout, what=f"{count} webhook(s) {type}")
        return self.drain()

    def events(self, object_id: str | None = None, type: str | None = None) -> list[Received]:
        """What arrived, in order, about one object (``data.object.id``) and/or of a type."""
        with self._lock:
            got = list(self.received)
        return [
            r
            for r in got
            if (object_id is None or r.event["data"]["object"].get("id") == object_id)
            and (type is None or r.event["type"] == type)
        ]

    def wait_for(
        self,
        object_id: str | None = None,
        type: str | None = None,
        count: int = 1,
        timeout: float = 5.0,
    ) -> list[Received]:
        """Wait until at least ``count`` such webhooks arrived; returns them all."""
        return wait_until(
            lambda: (found := self.events(object_id, type)) and len(found) >= count and found,
            timeout=timeout,
            what=f"{count} webhook(s) {type or ''} about {object_id or 'anything'}",
        )
