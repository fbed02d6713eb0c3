"""The identity replica every component keeps: access ends when it is taken away.

A token is a signed snapshot of the caller's rights, valid until it expires. When an
admin deactivates an account, removes a role or a hub, or the owner signs out
everywhere, the gateway records the account's new state here (in its own database, in
the same transaction) and publishes it as ``identity.user.changed`` /
``identity.user.deactivated`` (``shared/events/identity.py``). Each service follows
those events into this table (``follow_identity``), and ``shared.auth`` checks every
verified token against it (``check_token``):

- account deactivated → 401;
- token issued (``iat``) before ``tokens_valid_after`` → 401;
- token carries a role or hub the account no longer has → 401 (sign in again to get a
  token with today's rights).

The gateway announces every account when it is created, too, so the replica doubles as
a directory (``email``, ``name``) for services that write to people they know only by
id. An account with no row here (made before that, and unchanged since) keeps its
tokens. Lookups are cached per process for ``CACHE_SECONDS``, which bounds the extra
revocation delay they add to the bus's own (README, "Security").
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, String, Uuid
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.db import Database, KernelBase, UTCDateTime
from shared.events import identity as events
from shared.problems import Problem, unauthorized

if TYPE_CHECKING:
    from shared.auth import Identity
    from shared.messaging import Event, HandlerContext, Registry

#: How long a process trusts what it read from the replica (seconds).
CACHE_SECONDS = 1.0


class IdentityState(KernelBase):
    """The latest known state of an account that changed (one row per account)."""

    __tablename__ = "identity_replica"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    is_active: Mapped[bool] = mapped_column(Boolean)
    roles: Mapped[list[str]] = mapped_column(JSON)
    hub_ids: Mapped[list[str]] = mapped_column(JSON)
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    tokens_valid_after: Mapped[datetime | None] = mapped_column(UTCDateTime())
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class AccountState:
    """What the replica says about an account, detached from any session."""

    is_active: bool
    roles: frozenset[str]
    hub_ids: frozenset[str]
    tokens_valid_after: datetime | None
    email: str | None = None
    name: str | None = None

    def leads_hub(self, hub_id: str | uuid.UUID) -> bool:
        return "admin" in self.roles or ("hub_lead" in self.roles and str(hub_id) in self.hub_ids)


def state_event(
    *,
    user_id: uuid.UUID | str,
    is_active: bool,
    roles: Iterable[str],
    hub_ids: Iterable[uuid.UUID | str],
    tokens_valid_after: datetime | None,
    changed_at: datetime,
    email: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """The event data (JSON form) for an account's current state."""
    return {
        "user_id": str(user_id),
        "is_active": is_active,
        "roles": sorted(set(roles)),
        "hub_ids": sorted({str(h) for h in hub_ids}),
        "email": email,
        "name": name,
        "tokens_valid_after": tokens_valid_after.isoformat() if tokens_valid_after else None,
        "changed_at": changed_at.isoformat(),
    }


def apply_state(session: Session, data: Mapping[str, Any]) -> bool:
    """Store an account's state unless what is stored is newer; True if it changed.

    ``data`` is loaded event data (UUIDs and aware datetimes) or ``state_event`` output.
    """
    user_id = uuid.UUID(str(data["user_id"]))
    changed_at = _aware(data["changed_at"])
    tva = data.get("tokens_valid_after")
    row = session.get(IdentityState, user_id, with_for_update=True)
    if row is not None and row.changed_at >= changed_at:
        return False
    if row is None:
        row = IdentityState(user_id=user_id)
        session.add(row)
    row.is_active = bool(data["is_active"])
    row.roles = sorted({str(r) for r in data["roles"]})
    row.hub_ids = sorted({str(h) for h in data["hub_ids"]})
    row.email = data.get("email")
    row.name = data.get("name")
    row.tokens_valid_after = _aware(tva) if tva else None
    row.changed_at = changed_at
    session.flush()
    _cache.forget(str(user_id))
    return True


def _aware(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def follow_identity(registry: Registry) -> None:
    """Make a service keep the replica: one line in its ``handlers.py``."""

    def on_identity(s: Session, event: Event, _ctx: HandlerContext) -> None:
        apply_state(s, event.data)

    on_identity.__name__ = f"{registry.service}_on_identity"
    registry.handles(events.USER_CHANGED, events.USER_DEACTIVATED, queue="identity")(on_identity)


class _Cache:
    """user id → (state or None, read at); per process, thread-safe, short-lived."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], tuple[AccountState | None, float]] = {}
        self._lock = threading.Lock()

    def get(self, db: Database, user_id: str) -> AccountState | None:
        key = (db.name, user_id)
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
        if hit is not None and now - hit[1] < CACHE_SECONDS:
            return hit[0]
        state = _read(db, user_id)
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[key] = (state, now)
        return state

    def forget(self, user_id: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k[1] == user_id]:
                del self._items[key]


_cache = _Cache()


def _read(db: Database, user_id: str) -> AccountState | None:
    try:
        key = uuid.UUID(user_id)
    except ValueError:
        return None
    with db.read() as s:
        row = s.get(IdentityState, key)
        if row is None:
            return None
        return AccountState(
            is_active=row.is_active,
            roles=frozenset(row.roles),
            hub_ids=frozenset(row.hub_ids),
            tokens_valid_after=row.tokens_valid_after,
            email=row.email,
            name=row.name,
        )


def account_state(db: Database, user_id: str | uuid.UUID) -> AccountState | None:
    """The replica's view of an account (None: it never changed since its tokens)."""
    return _cache.get(db, str(user_id))


def _stale(detail: str) -> Problem:
    return unauthorized(detail, invalid_token=True)


def check_token(db: Database, identity: Identity) -> None:
    """Refuse a verified token that the account's current state no longer backs."""
    state = account_state(db, identity.user_id)
    if state is None:
        return
    if not state.is_active:
        raise _stale("This account is deactivated.")
    tva = state.tokens_valid_after
    if tva is not None and (identity.issued_at or 0) < tva.timestamp():
        raise _stale("This token was signed out; sign in again.")
    if not identity.roles <= state.roles or not identity.hub_ids <= state.hub_ids:
        raise _stale("Your roles or hubs changed; sign in again for a token with them.")
