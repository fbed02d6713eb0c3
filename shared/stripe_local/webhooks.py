"""Events, their signatures and their delivery, with the controls that make delivery
misbehave on purpose (hold and reorder, duplicate, drop, delay, resend).

An event is stored with the state change that caused it, in the same transaction, and its
delivery is queued there too; a background thread does the POSTs (never the API request),
retrying a connection error or a non-2xx answer with doubling backoff. The queue is in the
store, so deliveries still pending when the process stops go out after a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from flask import Blueprint, Response, g, has_request_context

from shared.stripe_local.forms import Params
from shared.stripe_local.responses import list_response, respond
from shared.stripe_local.runtime import API_VERSION, Config, current
from shared.stripe_local.store import Store, new_id

log = logging.getLogger("stripe_local.webhooks")

bp = Blueprint("stripe_local_events", __name__)


def sign(payload: str, secret: str, timestamp: int) -> str:
    """Stripe's ``Stripe-Signature``: HMAC-SHA256 of ``"{t}.{payload}"`` under the secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def _origin() -> dict[str, str | None]:
    """The API request behind an event, as Stripe fills ``event.request`` (null ids for what
    a customer or time did: paying on the hosted page, an expiry)."""
    if has_request_context() and getattr(g, "api_request", False):
        return {"id": g.request_id, "idempotency_key": g.get("idempotency_key")}
    return {"id": None, "idempotency_key": None}


class Webhooks:
    """Stores events and sends them to the one configured endpoint."""

    def __init__(self, store: Store, config: Config) -> None:
        self.store = store
        self.config = config
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # The flags win over an endpoint kept in the state file; without them it stays.
        if config.webhook_url is not None or store.setting("webhook_endpoint") is None:
            self.set_endpoint(config.webhook_url, config.webhook_secret)

    # -- configuration and controls -------------------------------------------------------

    def endpoint(self) -> tuple[str | None, str]:
        url, secret = self.store.setting("webhook_endpoint")
        return url, secret

    def set_endpoint(self, url: str | None, secret: str) -> None:
        with self.store.tx():
            self.store.set_setting("webhook_endpoint", [url, secret])
        self._wake_up()

    def hold(self) -> None:
        with self.store.tx():
            self.store.set_setting("hold", True)

    def release(self, order: str = "fifo") -> int:
        """Stop holding; queue the held deliveries now, oldest first or newest first."""
        with self.store.tx():
            self.store.set_setting("hold", False)
            rows = self.store.execute(
                "SELECT id FROM webhook_queue WHERE held = 1 ORDER BY id "
                + ("DESC" if order == "reverse" else "ASC")
            )
            now = time.time()
            for rank, (row_id,) in enumerate(rows):
                self.store.execute(
                    "UPDATE webhook_queue SET held = 0, due = ?, rank = ? WHERE id = ?",
                    (now, rank, row_id),
                )
        self._wake_up()
        return len(rows)

    def duplicate_next(self, copies: int) -> None:
        with self.store.tx():
            self.store.set_setting("duplicate", copies)

    def drop_next(self, count: int) -> None:
        with self.store.tx():
            self.store.set_setting("drop", count)

    def delay_next(self, seconds: float) -> None:
        with self.store.tx():
            self.store.set_setting("delay", seconds)

    def deliveries(self, event_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT event_id, type, attempt, outcome, status, error, url, at FROM deliveries"
        rows = (
            self.store.execute(sql + " WHERE event_id = ? ORDER BY id", (event_id,))
            if event_id
            else self.store.execute(sql + " ORDER BY id")
        )
        keys = ("event_id", "type", "attempt", "outcome", "status", "error", "url", "at")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def pending(self) -> int:
        return self.store.execute("SELECT COUNT(*) FROM webhook_queue")[0][0]

    # -- events ---------------------------------------------------------------------------

    def emit(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store an event about ``obj`` (a snapshot) and queue its delivery, applying the
        one-shot controls; call inside the transaction that changed ``obj``."""
        store = self.store
        with store.tx():
            url, _ = self.endpoint()
            event = {
                "id": new_id("evt_"),
                "object": "event",
                "api_version": API_VERSION,
                "created": store.now(),
                "data": {"object": store.render(obj)},
                "livemode": False,
                "pending_webhooks": 1 if url else 0,
                "request": _origin(),
                "type": event_type,
            }
            store.insert(event)
            if not url:
                return event
            drop = store.setting("drop", 0)
            if drop > 0:
                store.set_setting("drop", drop - 1)
                self._log(event, 0, "dropped", None, "dropped by /_stripe_local/webhooks/drop")
                return event
            copies = store.setting("duplicate", 1) or 1
            delay = store.setting("delay", 0) or 0
            store.set_setting("duplicate", 1)
            store.set_setting("delay", 0)
            held = 1 if store.setting("hold", False) else 0
            for _ in range(copies):
                self._enqueue(event["id"], time.time() + delay, held)
        self._wake_up()
        return event

    def resend(self, event_id: str) -> dict[str, Any]:
        """Queue one more delivery of a stored event now (``stripe events resend``)."""
        with self.store.tx():
            event = self.store.require("event", event_id)
            self._enqueue(event_id, time.time(), 0)
        self._wake_up()
        return event

    def _enqueue(self, event_id: str, due: float, held: int) -> None:
        self.store.execute(
            "INSERT INTO webhook_queue (event_id, due, held) VALUES (?, ?, ?)",
            (event_id, due, held),
        )

    def _log(
        self,
        event: dict[str, Any],
        attempt: int,
        outcome: str,
        status: int | None,
        error: str | None,
        url: str | None = None,
    ) -> None:
        self.store.execute(
            "INSERT INTO deliveries (event_id, type, attempt, outcome, status, error, url, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (event["id"], event["type"], attempt, outcome, status, error, url, time.time()),
        )

    # -- the delivery thread --------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stripe-local-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=self.config.webhook_timeout + 5)

    def _wake_up(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                job, wait = self._next_job()
                if job is None:
                    self._wake.wait(min(wait, 1.0))
                else:
                    self._attempt(*job)
            except Exception:  # a broken moment must not end deliveries; it is logged
                log.exception("webhook delivery loop")
                self._wake.wait(0.5)

    def _next_job(self) -> tuple[tuple[int, dict[str, Any], int] | None, float]:
        now = time.time()
        with self.store.lock:
            rows = self.store.execute(
                "SELECT id, event_id, attempt, due FROM webhook_queue WHERE held = 0 "
                "ORDER BY due, rank, id LIMIT 1"
            )
            if not rows:
                return None, 1.0
            row_id, event_id, attempt, due = rows[0]
            if due > now:
                return None, due - now
            event = self.store.get(event_id)
            if event is None:  # not expected; forget the row rather than spin on it
                self.store.execute("DELETE FROM webhook_queue WHERE id = ?", (row_id,))
                return None, 0.0
            return (row_id, event, attempt + 1), 0.0

    def _attempt(self, row_id: int, event: dict[str, Any], attempt: int) -> None:
        url, secret = self.endpoint()
        status: int | None = None
        error: str | None = None
        if not url:
            error = "no webhook endpoint configured"
        else:
            payload = json.dumps(event, indent=2)
            req = urllib.request.Request(
                url,
                data=payload.encode(),
                method="POST",
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                    "Stripe-Signature": sign(payload, secret, int(time.time())),
                },
            )
            try:
                with urllib.request.urlopen(req, timeout=self.config.webhook_timeout) as resp:
                    status = resp.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except (OSError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        with self.store.tx():
            if ok:
                outcome = "delivered"
                self.store.execute("DELETE FROM webhook_queue WHERE id = ?", (row_id,))
            elif attempt >= self.config.webhook_max_attempts:
                outcome = "gave_up"
                self.store.execute("DELETE FROM webhook_queue WHERE id = ?", (row_id,))
            else:
                outcome = "retry"
                backoff = self.config.webhook_retry_delay * 2 ** (attempt - 1)
                self.store.execute(
                    "UPDATE webhook_queue SET attempt = ?, due = ? WHERE id = ?",
                    (attempt, time.time() + backoff, row_id),
                )
            self._log(event, attempt, outcome, status, error, url)
        log.info(
            "webhook %s %s attempt %d -> %s",
            event["id"],
            event["type"],
            attempt,
            status if status is not None else error,
        )


# -- the events API -----------------------------------------------------------------------


@bp.get("/v1/events/<event_id>")
def retrieve_event(event_id: str) -> Response:

    rt = current()
    return respond(rt.store.require("event", event_id))


@bp.get("/v1/events")
def list_events() -> Response:

    params: Params = g.params
    where: dict[str, Any] = {}
    if event_type := params.string("type"):
        where["type"] = event_type
    return list_response("event", "/v1/events", where=where, extra={"type"})
