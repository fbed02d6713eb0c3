"""The gateway's readiness: its own at ``/readyz``, the services' at ``/readyz?deep=1``.

A load balancer polls ``/readyz`` to decide whether this gateway replica gets traffic.
If that answer included every service, one slow or down service would take every
gateway replica — the whole public entry point — out of rotation, although the
gateway still serves the other services and answers the down one's routes with a
quick 503 from its circuit breaker (gateway/proxy.py). So ``/readyz`` is the gateway's
own state: its database and broker (every component's checks, shared/web.py) and its
signing keys. Each service's state is at ``/readyz?deep=1`` (its own ``/readyz`` and
its breaker) and in the breakers' metrics (``eyhub_gateway_circuit_open``).

``eyhub up`` (eyhub/supervisor.py) still waits for the whole platform: it polls each
component's own ``/readyz`` on its own port.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from gateway.keys import KeyRing
from gateway.proxy import Proxy
from shared.config import SERVICES, Settings
from shared.health import Check, NotReady

#: Seconds a deep probe waits for a service's /readyz (it is an operator's question:
#: a slow answer is worth waiting a little for, but not for as long as a request).
PROBE_TIMEOUT = 3.0


def keys_check(keyring: KeyRing) -> Check:
    """Tokens can be signed and verified: a signing key is loaded and published."""

    def check() -> dict[str, Any]:
        key = keyring.signing_key
        return {"signing_kid": key.kid, "published": len(keyring.current_jwks()["keys"])}

    return check


def services_check(settings: Settings, proxy: Proxy) -> Check:
    """Every service's own readiness and its circuit breaker here (a deep check)."""

    def probe(service: str) -> tuple[str, dict[str, Any]]:
        state: dict[str, Any] = {"circuit": proxy.upstreams[service].breaker.current_state}
        try:
            resp = requests.get(f"{settings.service_url(service)}/readyz", timeout=PROBE_TIMEOUT)
            state["status"] = resp.status_code
        except requests.RequestException as exc:
            state["status"] = type(exc).__name__
        state["ready"] = state["status"] == 200
        return service, state

    def check() -> dict[str, Any]:
        with ThreadPoolExecutor(len(SERVICES)) as pool:
            results = dict(pool.map(probe, SERVICES))
        down = {s: r["status"] for s, r in results.items() if not r["ready"]}
        if down:
            raise NotReady(
                "not ready: " + ", ".join(f"{s} ({r})" for s, r in down.items()),
                {"services": results},
            )
        return {"services": results}

    return check
