"""The one place budget talks to Stripe: reads for reconciliation, through the official SDK.

Budget never writes to Stripe. It reads the account's balance transactions (what really
moved: each charge and refund with Stripe's fee and the net) and payouts, as bookings
does for payments: ``stripe.StripeClient`` pointed at ``settings.stripe_api_base``
(api.stripe.com, or the local stand-in). A hub lead waits on these reads, so timeouts
are short and a failed request is retried once; any failure surfaces as
``StripeUnavailable`` (the API answers 503) and nothing is stored. No database
transaction is open while Stripe is asked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

import stripe

from shared.config import Settings

log = logging.getLogger("eyhub.budget.stripe")

#: Seconds to connect, and to wait for a page (100 expanded objects) once connected.
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 10.0
#: One retry of a failed read (the SDK backs off about half a second first).
MAX_NETWORK_RETRIES = 1
PAGE_SIZE = 100


class StripeUnavailable(Exception):
    """Stripe could not be reached, or refused to answer; nothing was read."""


@cache
def _client(api_key: str, api_base: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base},
        max_network_retries=MAX_NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)),
    )


def client(settings: Settings) -> stripe.StripeClient:
    return _client(settings.stripe_key, settings.stripe_api_base)


def _created(start: datetime, end: datetime) -> dict[str, int]:
    return {"gte": int(start.timestamp()), "lt": int(end.timestamp())}


def _all(what: str, listing: Callable[[], Any]) -> list[dict[str, Any]]:
    """Every object of a list call, page after page, as plain dicts."""
    try:
        return [obj.to_dict() for obj in listing().auto_paging_iter()]
    except stripe.StripeError as exc:
        log.warning("stripe read failed", extra={"call": what, "error": str(exc)[:300]})
        raise StripeUnavailable(what) from exc


def balance_transactions(
    settings: Settings, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """The account's balance transactions created in [start, end), each with its
    ``source`` expanded: a charge with its metadata (``hub_id``...), a refund with its
    charge and payment intent ids."""
    return _all(
        "balance_transactions.list",
        lambda: client(settings).v1.balance_transactions.list(
            params={
                "created": _created(start, end),
                "limit": PAGE_SIZE,
                "expand": ["data.source"],
            }
        ),
    )


def payouts(settings: Settings, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The account's payouts created in [start, end)."""
    return _all(
        "payouts.list",
        lambda: client(settings).v1.payouts.list(
            params={"created": _created(start, end), "limit": PAGE_SIZE}
        ),
    )


def retrieve(settings: Settings, object_id: str) -> dict[str, Any] | None:
    """A payment intent, charge or refund (a refund with its charge expanded) by its id;
    None when Stripe has no such object (or the id is of another kind)."""
    v1 = client(settings).v1
    calls: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
        "pi": (v1.payment_intents.retrieve, {}),
        "ch": (v1.charges.retrieve, {}),
        "py": (v1.charges.retrieve, {}),
        "re": (v1.refunds.retrieve, {"expand": ["charge"]}),
        "pyr": (v1.refunds.retrieve, {"expand": ["charge"]}),
    }
    call = calls.get(object_id.split("_", 1)[0])
    if call is None:
        return None
    fn, params = call
    try:
        return fn(object_id, params=params).to_dict()  # type: ignore[no-any-return]
    except stripe.InvalidRequestError as exc:
        if exc.code == "resource_missing":
            return None
        log.warning("stripe read refused", extra={"call": "retrieve", "error": str(exc)[:300]})
        raise StripeUnavailable("retrieve") from exc
    except stripe.StripeError as exc:
        log.warning("stripe read failed", extra={"call": "retrieve", "error": str(exc)[:300]})
        raise StripeUnavailable("retrieve") from exc
