"""Broker connections: RabbitMQ as configured, or kombu's filesystem transport, hardened.

RabbitMQ: publisher confirms (``confirm_publish``), heartbeats, short connect timeout.

Embedded: kombu's ``filesystem://`` transport with every folder under
``settings.broker_dir``. Three things the stock transport does not do, and a reliable
bus needs, are added by subclassing its channel (same on-disk format and options):

- **No loss on a crash.** Stock ``_get`` deletes the file when it hands the message
  over, so a consumer killed before its ack loses it. Here a fetched file is *leased*:
  renamed into ``leases/<consumer>/``, deleted on ack, renamed back on reject/close. A
  consumer holds an ``flock`` on its lease folder for its lifetime; any consumer finding
  a lease folder whose lock it can take (its owner died, even by SIGKILL) moves the
  files back, under their original names, so they are redelivered in order.
- **Order.** Stock file names start with a millisecond clock plus a random uuid, so
  messages written in the same millisecond are read in random order. Here names carry
  nanoseconds and a per-process counter; files are written under ``tmp/`` and renamed
  in, so a reader never sees half a message.
- **Mandatory.** Stock virtual transports route an unbound key to a fallback queue
  nobody reads; here it raises ``Unroutable``, which the relay reports.

And two costs it avoids, both per message in the stock transport: a consumer lists
and sorts the whole queue folder once per *batch* of messages (the sorted listing is
kept per queue and consumed in order; it is read again when it runs out, or at once
when a message was put back), and a publisher re-reads the exchange's binding table
only when the table file was replaced (every change renames a new file in).
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import shutil
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from queue import Empty
from typing import Any

from kombu import Connection
from kombu.exceptions import ChannelError
from kombu.transport import filesystem, virtual
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

from shared.config import Settings


class Unroutable(ChannelError):
    """No queue is bound to the routing key: the event would be dropped."""


_counter = itertools.count()
_last_ns = 0
_name_lock = threading.Lock()


def _sortable_stamp() -> str:
    global _last_ns
    with _name_lock:
        now = max(time.time_ns(), _last_ns + 1)
        _last_ns = now
        return f"{now:020d}_{os.getpid():07d}_{next(_counter):010d}"


class LeasingQoS(virtual.QoS):
    def ack(self, delivery_tag: str) -> None:
        self.channel._lease_done(delivery_tag, requeue=False)
        super().ack(delivery_tag)

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        self.channel._lease_done(delivery_tag, requeue=requeue)
        self._quick_ack(delivery_tag)

    def restore_unacked(self) -> list[Any]:
        self._flush()
        for tag in list(self._delivered):
            self.channel._lease_done(tag, requeue=True)
        self._delivered.clear()
        return []


class LeasingChannel(filesystem.Channel):
    QoS = LeasingQoS
    #: seconds between scans for leases of dead consumers
    recover_every = 1.0
    #: an idle queue's folder is listed at most this often (seconds), so a busy queue
    #: beside an idle one is not slowed by a listing per poll of the idle one
    relist_idle_every = 0.005

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._leases: dict[str, tuple[Path, str]] = {}
        self._lease_dir: Path | None = None
        self._lease_lock: Any = None
        self._next_recover = 0.0
        #: the last listing of the queue folder: each queue's file names, oldest first
        self._listing: dict[str, deque[str]] = {}
        self._listed_at = 0.0
        #: exchange → (identity of its table file, parsed table)
        self._tables: dict[str, tuple[tuple[int, int, int], list[Any]]] = {}
        self._exchange_files: dict[str, Path] = {}

    # -- paths ---------------------------------------------------------------------
    @property
    def _root(self) -> Path:
        return Path(self.transport_options["broker_root"])

    def _leases_root(self) -> Path:
        return self._root / "leases"

    def _my_lease_dir(self) -> Path:
        if self._lease_dir is None:
            root = self._leases_root()
            root.mkdir(parents=True, exist_ok=True)
            ident = uuid.uuid4().hex
            tmp = root / f".new-{ident}"
            tmp.mkdir()
            lock = open(tmp / "lock", "wb")  # noqa: SIM115 - held for the channel's life
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            final = root / ident
            os.rename(tmp, final)  # only now visible to recoverers, already locked
            self._lease_lock, self._lease_dir = lock, final
        return self._lease_dir

    # -- bindings: stock kombu rewrites the table file in place without a shared lock,
    # so two processes declaring at once can lose a binding. Serialise and swap atomically.
    def _edit_table(self, exchange: str, change: Any) -> None:
        file = self._exchange_file(exchange)
        folder = self.control_folder
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                table = [filesystem.exchange_queue_t(*q) for q in loads(file.read_bytes())]
            except FileNotFoundError:
                table = []
            new = change(list(table))
            if new != table:
                tmp = folder / f".{file.name}.{uuid.uuid4().hex}"
                tmp.write_bytes(str_to_bytes(dumps(new)))
                os.rename(tmp, file)

    def _exchange_file(self, exchange: str) -> Path:
        file = self._exchange_files.get(exchange)
        if file is None:  # the stock method validates the name: do that once per exchange
            file = self._exchange_files[exchange] = super()._exchange_file(exchange)
        return file

    def get_table(self, exchange: str) -> list[Any]:
        file = self._exchange_file(exchange)
        try:
            st = os.stat(file)
        except FileNotFoundError:
            self._tables.pop(exchange, None)
            return []
        # Every edit renames a new file in (``_edit_table``): a new inode means a new table.
        ident = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = self._tables.get(exchange)
        if cached is not None and cached[0] == ident:
            return cached[1]
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            return []
        table = [filesystem.exchange_queue_t(*q) for q in loads(bytes_to_str(raw))]
        self._tables[exchange] = (ident, table)
        return table

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        value = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._edit_table(exchange, lambda t: t if value in t else [value, *t])

    def _delete(
        self, queue: str, exchange: str, routing_key: str, pattern: str, *args: Any, **kwargs: Any
    ) -> None:
        virtual.Channel._delete(self, queue, exchange, routing_key, pattern, *args, **kwargs)
        value = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._edit_table(exchange, lambda t: [q for q in t if q != value])

    # -- publish -------------------------------------------------------------------
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        name = f"{_sortable_stamp()}.{queue}.msg"
        tmp = os.path.join(self._tmp_folder, name)
        data = str_to_bytes(dumps(payload))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.rename(tmp, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            raise ChannelError(f"cannot write message for {queue!r}: {exc}") from exc

    @property
    def _tmp_folder(self) -> str:
        return os.path.join(self.transport_options["broker_root"], "tmp")

    def _lookup(self, exchange: str, routing_key: str, default: Any = None) -> list[str]:
        if not exchange:
            return [routing_key]
        try:
            found = self.typeof(exchange).lookup(
                self.get_table(exchange), exchange, routing_key, None
            )
        except KeyError:
            found = []
        found = [q for q in found if q]
        if not found:
            raise Unroutable(f"no queue bound to {routing_key!r} on exchange {exchange!r}")
        return found

    # -- consume -------------------------------------------------------------------
    def _list(self, now: float) -> None:
        """Read the queue folder once, for every queue: names sort in publishing order."""
        listing: dict[str, deque[str]] = {}
        for filename in sorted(os.listdir(self.data_folder_in)):
            queue, _, ext = filename.partition(".")[2].rpartition(".")
            if ext == "msg":
                listing.setdefault(queue, deque()).append(filename)
        self._listing = listing
        self._listed_at = now

    def _forget_listing(self) -> None:
        """A message went back into the folder: the next get must see it first."""
        self._listing = {}
        self._listed_at = 0.0

    def _get(self, queue: str) -> Any:
        now = time.monotonic()
        if now >= self._next_recover:
            self._next_recover = now + self.recover_every
            if self.recover_dead_leases():
                self._forget_listing()
        pending = self._listing.get(queue)
        if not pending:
            # Known empty at a listing this recent: do not list again for it yet.
            if pending is None and now - self._listed_at < self.relist_idle_every:
                raise Empty()
            self._list(now)
            pending = self._listing.get(queue)
        folder = self.data_folder_in
        while pending:
            filename = pending.popleft()
            leased = self._my_lease_dir() / filename
            try:
                os.rename(os.path.join(folder, filename), leased)
            except FileNotFoundError:
                continue  # another consumer took it
            with open(leased, "rb") as f:
                payload = loads(bytes_to_str(f.read()))
            tag = payload["properties"]["delivery_tag"]
            self._leases[tag] = (leased, filename)
            return payload
        raise Empty()

    def _lease_done(self, tag: str, *, requeue: bool) -> None:
        lease = self._leases.pop(tag, None)
        if lease is None:
            return
        path, filename = lease
        with contextlib.suppress(FileNotFoundError):  # gone already: recovered as a dead lease
            if requeue:
                os.rename(path, os.path.join(self.data_folder_in, filename))
                self._forget_listing()
            else:
                path.unlink()

    def recover_dead_leases(self) -> int:
        """Give back the messages leased by consumers that died; returns how many."""
        root = self._leases_root()
        if not root.is_dir():
            return 0
        moved = 0
        for entry in root.iterdir():
            if entry.name.startswith(".") or entry == self._lease_dir:
                continue
            try:
                lock = open(entry / "lock", "rb")  # noqa: SIM115
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its consumer is alive
                for msg in entry.iterdir():
                    if msg.name != "lock":
                        os.rename(msg, os.path.join(self.data_folder_in, msg.name))
                        moved += 1
                shutil.rmtree(entry, ignore_errors=True)
            finally:
                lock.close()
        return moved

    def close(self) -> None:
        super().close()  # restores unacked leases via the QoS
        if self._lease_lock is not None:
            if self._lease_dir is not None:
                shutil.rmtree(self._lease_dir, ignore_errors=True)
            self._lease_lock.close()
            self._lease_lock = None


class LeasingTransport(filesystem.Transport):
    Channel = LeasingChannel

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        # Stock state is process-global: a binding declared once (another data folder, an
        # earlier connection) would be skipped, never written to this folder's table.
        self.state = virtual.BrokerState()


def broker_folders(settings: Settings) -> dict[str, Path]:
    root = settings.broker_dir.resolve()
    return {
        "root": root,
        "queues": root / "queues",
        "processed": root / "processed",
        "control": root / "control",
        "tmp": root / "tmp",
        "leases": root / "leases",
    }


def ensure_broker_folders(settings: Settings) -> None:
    """Create the embedded broker's folders (once, at start; not on every reconnect)."""
    for path in broker_folders(settings).values():
        path.mkdir(parents=True, exist_ok=True)


def connect(
    settings: Settings, *, heartbeat: float = 10.0, confirm_publish: bool = True
) -> Connection:
    """A (lazy) kombu connection to the bus of ``settings``.

    ``confirm_publish=False`` leaves RabbitMQ publisher confirms to the caller (the relay
    selects them itself and waits once per batch, not once per message).
    """
    if settings.embedded_broker:
        ensure_broker_folders(settings)
        f = broker_folders(settings)
        return Connection(
            transport=LeasingTransport,
            transport_options={
                "broker_root": str(f["root"]),
                "data_folder_in": str(f["queues"]),
                "data_folder_out": str(f["queues"]),
                "processed_folder": str(f["processed"]),
                "store_processed": False,
                "control_folder": str(f["control"]),
                "polling_interval": min(settings.bus_poll_seconds, 0.1),
            },
        )
    return Connection(
        settings.broker_url,
        heartbeat=heartbeat,
        connect_timeout=3,
        transport_options={"confirm_publish": confirm_publish, "max_retries": 0},
    )


def ping(settings: Settings, timeout: float = 2.0) -> dict[str, Any]:
    """Readiness: the embedded queue folder takes a file, or RabbitMQ accepts a connection."""
    if settings.embedded_broker:
        ensure_broker_folders(settings)
        queues = broker_folders(settings)["queues"]
        probe = broker_folders(settings)["tmp"] / f".probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
        if not os.access(queues, os.W_OK) or not queues.is_dir():
            raise OSError(f"broker folder {queues} is not writable")
        return {"transport": "filesystem"}
    with Connection(settings.broker_url, connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)
        return {"transport": "amqp"}
