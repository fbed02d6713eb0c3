"""The SQLite object store: every Stripe object as a JSON blob, plus idempotency keys, the
webhook queue, the delivery log and the test controls' settings.

One connection behind one re-entrant lock (the server is threaded, and a handler's writes,
its events and their queued deliveries must commit together); WAL so a file survives a kill.
A restart on the same file keeps objects, idempotency keys and undelivered webhooks.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import string
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from shared.stripe_local.errors import invalid_param, resource_missing

_ALPHABET = string.ascii_letters + string.digits

#: Id prefix -> Stripe object type (for "No such ..." messages and generic lookups).
PREFIXES = {
    "cs_test_": "checkout.session",
    "pi_": "payment_intent",
    "ch_": "charge",
    "re_": "refund",
    "txn_": "balance_transaction",
    "po_": "payout",
    "evt_": "event",
}

#: Idempotency keys are kept this long, as on Stripe.
IDEMPOTENCY_TTL = 24 * 3600

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    created INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_by_type ON objects (type, created, seq);
CREATE TABLE IF NOT EXISTS idempotency (
    api_key TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    request_id TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (api_key, key)
);
CREATE TABLE IF NOT EXISTS webhook_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    due REAL NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    held INTEGER NOT NULL DEFAULT 0,
    rank INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    status INTEGER,
    error TEXT,
    url TEXT,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def new_id(prefix: str, length: int = 24) -> str:
    """A Stripe-looking id: the prefix and random base62 (Checkout's are longer on Stripe)."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def type_of(object_id: str) -> str:
    for prefix, object_type in PREFIXES.items():
        if object_id.startswith(prefix):
            return object_type
    return "object"


Renderer = Callable[["Store", dict[str, Any]], dict[str, Any]]


class Store:
    """Objects and bookkeeping in one SQLite file (``:memory:`` for a throwaway one)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._depth = 0
        #: Per-type hooks that add derived fields on the way out (a charge's refunds).
        self.renderers: dict[str, Renderer] = {}
        with self.lock:
            if path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        self._clock_offset = float(self.setting("clock_offset", 0))

    def close(self) -> None:
        with self.lock:
            self._db.close()

    @contextmanager
    def tx(self) -> Iterator[Store]:
        """One transaction under the lock; nested calls join the outer one."""
        with self.lock:
            outer = self._depth == 0
            if outer:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if outer:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._db.execute("COMMIT")

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row | tuple[Any, ...]]:
        with self.lock:
            return self._db.execute(sql, args).fetchall()

    # -- time ---------------------------------------------------------------------------

    def now(self) -> int:
        """Business time (``created``, expiries): real time plus the test clock's offset."""
        return int(time.time() + self._clock_offset)

    def advance_clock(self, seconds: float) -> int:
        with self.tx():
            self._clock_offset += seconds
            self.set_setting("clock_offset", self._clock_offset)
        return self.now()

    # -- objects --------------------------------------------------------------------------

    def insert(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.execute(
            "INSERT INTO objects (id, type, created, data) VALUES (?, ?, ?, ?)",
            (obj["id"], obj["object"], obj["created"], json.dumps(obj)),
        )
        return obj

    def save(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.execute("UPDATE objects SET data = ? WHERE id = ?", (json.dumps(obj), obj["id"]))
        return obj

    def get(self, object_id: str) -> dict[str, Any] | None:
        rows = self.execute("SELECT data FROM objects WHERE id = ?", (object_id,))
        return json.loads(rows[0][0]) if rows else None

    def require(self, object_type: str, object_id: str, param: str = "id") -> dict[str, Any]:
        """The object, or Stripe's ``resource_missing`` error naming the parameter."""
        obj = self.get(object_id)
        if obj is None or obj["object"] != object_type:
            raise resource_missing(object_type, object_id, param)
        return obj

    def find(self, object_type: str, where: dict[str, Any]) -> list[dict[str, Any]]:
        """Objects of a type whose top-level fields equal ``where``, oldest first."""
        sql = "SELECT data FROM objects WHERE type = ?"
        args: list[Any] = [object_type]
        for field, value in where.items():
            sql += f" AND json_extract(data, '$.{field}') = ?"
            args.append(value)
        rows = self.execute(sql + " ORDER BY created, seq", tuple(args))
        return [json.loads(r[0]) for r in rows]

    def page(
        self,
        object_type: str,
        *,
        where: dict[str, Any] | None = None,
        ranges: dict[str, dict[str, int]] | None = None,
        limit: int = 10,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """A page of a Stripe list, newest first (ties by insertion order), and has_more."""
        sql = "SELECT data FROM objects WHERE type = ?"
        args: list[Any] = [object_type]
        for field, value in (where or {}).items():
            sql += f" AND json_extract(data, '$.{field}') = ?"
            args.append(value)
        ops = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
        for field, bounds in (ranges or {}).items():
            column = "created" if field == "created" else f"json_extract(data, '$.{field}')"
            for op, value in bounds.items():
                sql += f" AND {column} {ops[op]} ?"
                args.append(value)
        cursor = starting_after or ending_before
        if cursor:
            param = "starting_after" if starting_after else "ending_before"
            rows = self.execute(
                "SELECT created, seq FROM objects WHERE id = ? AND type = ?", (cursor, object_type)
            )
            if not rows:
                raise resource_missing(object_type, cursor, param)
            created, seq = rows[0]
            cmp = "<" if starting_after else ">"
            sql += f" AND (created {cmp} ? OR (created = ? AND seq {cmp} ?))"
            args += [created, created, seq]
        order = "ASC" if ending_before and not starting_after else "DESC"
        sql += f" ORDER BY created {order}, seq {order} LIMIT ?"
        args.append(limit + 1)
        rows = self.execute(sql, tuple(args))
        items = [json.loads(r[0]) for r in rows[:limit]]
        if order == "ASC":
            items.reverse()
        return items, len(rows) > limit

    # -- rendering and expansion ----------------------------------------------------------

    def render(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The public shape: private ``_`` fields dropped, derived fields added."""
        out = {k: v for k, v in obj.items() if not k.startswith("_")}
        renderer = self.renderers.get(obj.get("object", ""))
        return renderer(self, out) if renderer else out

    def expand(self, obj: dict[str, Any], paths: list[str], param: str = "expand") -> None:
        """Replace id fields by their objects, in place (``payment_intent``,
        ``payment_intent.latest_charge``); unknown or non-id fields are Stripe's error."""
        for path in paths:
            self._expand_path(obj, path.split("."), path, param)

    def _expand_path(self, obj: dict[str, Any], parts: list[str], path: str, param: str) -> None:
        field, rest = parts[0], parts[1:]
        if field not in obj:
            raise invalid_param(f"This property cannot be expanded ({field}).", param)
        value = obj[field]
        if isinstance(value, str):
            target = self.get(value)
            if target is None:
                raise invalid_param(f"This property cannot be expanded ({field}).", param)
            value = obj[field] = self.render(target)
        elif value is not None and not isinstance(value, dict):
            raise invalid_param(f"This property cannot be expanded ({field}).", param)
        if rest and isinstance(value, dict):
            self._expand_path(value, rest, path, param)

    # -- settings (test controls) ---------------------------------------------------------

    def setting(self, key: str, default: Any = None) -> Any:
        rows = self.execute("SELECT value FROM settings WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def set_setting(self, key: str, value: Any) -> None:
        self.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    # -- idempotency ----------------------------------------------------------------------

    def idempotent_result(self, api_key: str, key: str) -> tuple[str, int, str, str] | None:
        """(fingerprint, status, body, request id) saved under the key, if still kept."""
        rows = self.execute(
            "SELECT fingerprint, status, body, request_id FROM idempotency "
            "WHERE api_key = ? AND key = ? AND created > ?",
            (api_key, key, time.time() - IDEMPOTENCY_TTL),
        )
        if not rows:
            return None
        fingerprint, status, body, request_id = rows[0]
        return fingerprint, status, body, request_id

    def save_idempotent_result(
        self, api_key: str, key: str, fingerprint: str, status: int, body: str, request_id: str
    ) -> None:
        self.execute(
            "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?, ?, ?, ?)",
            (api_key, key, fingerprint, status, body, request_id, time.time()),
        )

    def purge_idempotency(self) -> None:
        self.execute("DELETE FROM idempotency WHERE created <= ?", (time.time() - IDEMPOTENCY_TTL,))
