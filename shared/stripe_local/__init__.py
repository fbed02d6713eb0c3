"""stripe-local: a small, stateful, Stripe-compatible HTTP server for tests and local runs.

Real Stripe is not reachable from the development machines and CI, and stripe-mock cannot
be installed, so this stands in for exactly the part of Stripe's API that eyhub uses,
through the official SDK (stripe 16.1.0), with Stripe's object shapes, errors,
Idempotency-Key semantics and signed webhooks. Point the SDK at it with
``stripe.StripeClient("sk_test_...", base_addresses={"api": "http://127.0.0.1:PORT"})``.

Run it::

    python -m shared.stripe_local --host 127.0.0.1 --port 12111 --state var/stripe.db \\
        --webhook-url http://127.0.0.1:5000/stripe/webhook --webhook-secret whsec_... \\
        [--public-url http://127.0.0.1:12111]

(every flag also from STRIPE_LOCAL_<FLAG> in the environment: ``python -m
shared.stripe_local --help``). It prints ``stripe-local listening on http://HOST:PORT``
once ready, logs one line per request to stderr, and stops cleanly on SIGTERM.

The API (``/v1``, ``Authorization: Bearer sk_test_...``; anything else is a 401):

- ``POST /v1/checkout/sessions``, ``GET /v1/checkout/sessions[/{id}]``,
  ``POST /v1/checkout/sessions/{id}`` (metadata), ``POST /v1/checkout/sessions/{id}/expire``
- ``GET /v1/payment_intents[/{id}]``, ``GET /v1/charges[/{id}]``
- ``POST /v1/refunds``, ``GET /v1/refunds[/{id}]``
- ``GET /v1/balance_transactions[/{id}]`` (filters: created, type, currency, source,
  payout), ``GET /v1/payouts[/{id}]``, ``GET /v1/balance``
- ``GET /v1/events[/{id}]``
- lists: newest first, ``limit`` 1..100, ``starting_after``/``ending_before``,
  ``created[gt|gte|lt|lte]``, ``expand[]=data.x``; objects: ``expand[]=field``.

The hosted checkout page is each session's ``url``, ``{public url}/pay/{cs_id}``: a plain
HTML page with "Pay with test card" (POST ``/pay/{cs_id}/pay``: pays, sends
``checkout.session.completed``, 303 to ``success_url``) and "Cancel" (POST
``/pay/{cs_id}/cancel``: 303 to ``cancel_url``, the session stays open).

Webhooks (``checkout.session.completed``, ``checkout.session.expired``, ``charge.refunded``
when a refund succeeds, ``refund.failed``) are signed like Stripe's (``Stripe-Signature:
t=...,v1=...``) and sent from a background thread, retried on a connection error or a
non-2xx answer (0.2 s doubling, 8 attempts by default).

Test controls, under ``/_stripe_local/`` (JSON in and out, no auth — local use only):

- ``GET  healthz`` -> ``{"ok": true}``
- ``POST webhooks/endpoint {"url", "secret"}`` — where webhooks go and their secret
- ``POST webhooks/hold`` — queue every delivery until released;
  ``POST webhooks/release {"order": "fifo"|"reverse"}`` — deliver the queued ones so
- ``POST webhooks/duplicate {"copies": 3}`` — the next event is delivered that many times
- ``POST webhooks/drop {"count": 1}`` — the next N events are never delivered
- ``POST webhooks/delay {"seconds": 2}`` — the next event waits that long first
- ``GET  webhooks/deliveries[?event_id=evt_...]`` — every attempt: event id, type, attempt,
  outcome (delivered, retry, gave_up, dropped), HTTP status or error, url, time
- ``POST events/{evt_id}/resend`` — deliver a stored event again
- ``POST fail_next {"method", "path", "status", "type", "message", "code", "param",
  "should_retry"}`` — the next API request with that method and path prefix fails once
  with that Stripe error (not saved under its Idempotency-Key, so a retry can succeed)
- ``POST refunds/next_status {"status": "pending"}`` — the next refund stays pending;
  ``POST refunds/{re_id}/settle {"status": "succeeded"|"failed", "failure_reason"}``
- ``POST charges/{ch_id}/tamper {"amount": pence}`` — change the amount of the charge's
  balance transaction (fee and net recomputed), for reconciliation tests
- ``POST payouts {"currency": "gbp"}`` — pay out the available balance now; the payout
- ``POST checkout/sessions/{cs_id}/pay`` — the hosted page's pay, answering the session
- ``POST clock {"advance": seconds}`` — move business time on (``created``,
  ``expires_at`` checks, the expiry sweep); signatures keep real time

State lives in one SQLite file (``--state``; ``:memory:`` for none), so a restart keeps the
objects, idempotency keys (24 h) and webhooks not yet delivered.
"""

from shared.stripe_local.app import create_app
from shared.stripe_local.runtime import API_VERSION, Config

__all__ = ["API_VERSION", "Config", "create_app"]
