"""Which hubs exist: users' ``hub_ids`` must name real hubs (a typo would otherwise
give a hub lead rights over nothing, and hide the mistake).

Hubs live in the catalogue. The gateway keeps the ids it learned from
``catalogue.hub.created`` (``gateway/handlers.py``) in ``known_hubs``; an id it has not
heard of yet (a hub created a moment ago, its event still on the bus) is asked of the
catalogue once and remembered.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterable

import requests
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from urllib3.exceptions import HTTPError

from gateway.models import KnownHub
from gateway.proxy import UpstreamSession, release
from shared.config import Settings
from shared.db import Database
from shared.problems import Problem


def remember(s: Session, hub_id: uuid.UUID, name: str) -> None:
    """Record a hub (idempotent: the same event twice, or after a read-through)."""
    row = s.get(KnownHub, hub_id)
    if row is None:
        s.add(KnownHub(id=hub_id, name=name))
    else:
        row.name = name
    s.flush()


class HubDirectory:
    """Answers "do these hubs exist?" from ``known_hubs``, else from the catalogue."""

    def __init__(self, settings: Settings, session: UpstreamSession) -> None:
        self.settings = settings
        self.session = session

    def _ask_catalogue(self, hub_id: uuid.UUID) -> str | None:
        """The hub's name if the catalogue has it, None if it does not."""
        url = f"{self.settings.service_url('catalogue')}/api/catalogue/hubs/{hub_id}"
        try:
            resp = self.session.request("GET", url, headers={"Accept": "application/json"})
            try:
                body = resp.read(decode_content=True)
            finally:
                release(resp)
        except (requests.RequestException, HTTPError) as exc:
            raise Problem(
                503, "Service unavailable", "Cannot check the hubs now; try again shortly."
            ) from exc
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise Problem(503, "Service unavailable", "Cannot check the hubs now; try again.")
        return str(json.loads(body).get("name") or "")

    def require_known(self, db: Database, hub_ids: Iterable[uuid.UUID | str], field: str) -> None:
        """422 naming the first unknown hub id (nothing is written otherwise)."""
        wanted = sorted({uuid.UUID(str(h)) for h in hub_ids})
        if not wanted:
            return
        with db.read() as s:
            known = set(s.scalars(select(KnownHub.id).where(KnownHub.id.in_(wanted))))
        for hub_id in wanted:
            if hub_id in known:
                continue
            name = self._ask_catalogue(hub_id)
            if name is None:
                raise Problem(
                    422, "Invalid request", errors={field: [f"No hub has the id {hub_id}."]}
                )
            # The hub's event may arrive meanwhile and record it first: either is fine.
            with contextlib.suppress(IntegrityError), db.transaction() as s:
                remember(s, hub_id, name)
