"""Read-through to the catalogue for a session not replicated yet (reads only: see
docs/architecture.md, "Components").

Booking straight after publishing must not fail because the ``scheduled`` event is
still on its way: the API fetches the published session once and stores it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

import requests

from services.bookings.snapshots import snapshot_from_catalogue
from shared.config import Settings
from shared.problems import Problem

log = logging.getLogger("eyhub.bookings.catalogue")

_http = requests.Session()


def fetcher(settings: Settings):  # type: ignore[no-untyped-def]
    """A ``SessionFetcher`` bound to the catalogue these settings point at."""

    def fetch(session_id: uuid.UUID) -> Mapping[str, Any] | None:
        url = f"{settings.service_url('catalogue')}/api/catalogue/sessions/{session_id}"
        try:
            resp = _http.get(url, timeout=(settings.upstream_connect_timeout, 5.0))
        except requests.RequestException as exc:
            log.warning("catalogue unreachable for read-through", extra={"error": str(exc)})
            raise Problem(
                503,
                "Service unavailable",
                "The session is not known here yet and the catalogue did not answer; "
                "try again shortly.",
                headers={"Retry-After": "5"},
            ) from exc
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise Problem(
                503,
                "Service unavailable",
                f"The catalogue answered {resp.status_code}; try again shortly.",
                headers={"Retry-After": "5"},
            )
        return snapshot_from_catalogue(resp.json())

    return fetch
