"""What one running stand-in holds: its settings, the store, the webhook sender, and the
maintenance thread that expires due Checkout Sessions (as Stripe does on its own)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app, request

from shared.stripe_local.store import Store

if TYPE_CHECKING:
    from shared.stripe_local.webhooks import Webhooks

log = logging.getLogger("stripe_local")

#: The API version the SDK pinned by the project (stripe 16.1.0) sends and expects in
#: events: ``stripe.api_version``. tests/stripe_local checks the two stay equal.
API_VERSION = "2026-10-28.endive"


@dataclass
class Config:
    """How the stand-in runs; ``__main__`` fills it from flags and STRIPE_LOCAL_* variables."""

    state: str = ":memory:"
    webhook_url: str | None = None
    webhook_secret: str = "whsec_stripe_local"
    #: Base of hosted checkout page URLs; None: the address the request came to.
    public_url: str | None = None
    webhook_max_attempts: int = 8
    webhook_retry_delay: float = 0.2
    webhook_timeout: float = 5.0
    #: How often open Checkout Sessions past ``expires_at`` are looked for.
    expiry_interval: float = 1.0
    #: False for an app under a test client that must not start threads.
    background: bool = True


class Runtime:
    """The store, the webhook sender and the maintenance thread of one stand-in."""

    def __init__(self, config: Config) -> None:
        from shared.stripe_local import payments
        from shared.stripe_local.webhooks import Webhooks

        self.config = config
        self.store = Store(config.state)
        self.store.renderers["charge"] = payments.render_charge
        self.webhooks: Webhooks = Webhooks(self.store, config)
        #: Idempotency keys of requests being handled now: another with one gets a 409.
        self.in_flight: set[tuple[str, str]] = set()
        self.in_flight_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.webhooks.start()
        self._thread = threading.Thread(
            target=self._maintain, name="stripe-local-expiry", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop both threads, letting a delivery in flight finish, then close the store."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        self.webhooks.stop()
        self.store.close()

    def _maintain(self) -> None:
        from shared.stripe_local.checkout import expire_due_sessions

        while not self._stop.wait(self.config.expiry_interval):
            try:
                expired = expire_due_sessions(self)
                if expired:
                    log.info("expired %d checkout session(s) past expires_at", expired)
                self.store.purge_idempotency()
            except Exception:  # keep expiring after a bad moment; it is logged
                log.exception("expiry sweep failed")

    def public_base(self) -> str:
        return (self.config.public_url or request.host_url).rstrip("/")


def current() -> Runtime:
    """The runtime of the app handling this request."""
    return current_app.extensions["stripe_local"]
