"""Mail is queued with the change that causes it and delivered by the worker, losing none."""

from __future__ import annotations

import contextlib
import email
import email.policy
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from shared import mail
from shared.db import Database
from shared.migrations import upgrade
from tests.support.backends import Backend, free_port_base


class _Inbox(Message):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[email.message.Message] = []

    def handle_message(self, message: email.message.Message) -> None:
        self.messages.append(message)


@pytest.fixture
def smtp_port() -> int:
    return free_port_base(1)


@pytest.fixture
def smtp_server(smtp_port: int) -> Iterator[tuple[Controller, _Inbox]]:
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    yield controller, inbox
    with contextlib.suppress(Exception):
        controller.stop()


def _queue(db: Database, settings, n: int) -> None:  # type: ignore[no-untyped-def]
    with db.transaction() as session:
        for i in range(n):
            mail.queue_mail(
                session,
                mail.new_message(
                    settings, to=f"p{i}@example.org", subject=f"Booked {i}", text="Hi"
                ),
            )


def test_default_writes_eml_files(backend: Backend) -> None:
    settings = backend.settings()
    upgrade("bookings", settings, None)  # the kernel's mail_outbox
    db = Database(settings.database_url("bookings"))
    _queue(db, settings, 3)
    assert mail.backlog(db) == 3
    assert mail.deliver_pending(db, settings) == 3
    files = sorted(settings.mail_dir.glob("*.eml"))
    assert len(files) == 3
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert parsed["To"].endswith("@example.org") and parsed["Message-ID"]
    assert mail.backlog(db) == 0
    assert mail.deliver_pending(db, settings) == 0  # nothing sent twice


def test_rolled_back_change_sends_no_mail(embedded: Backend) -> None:
    settings = embedded.settings()
    upgrade("bookings", settings, None)  # the kernel's mail_outbox
    db = Database(settings.database_url("bookings"))
    with pytest.raises(RuntimeError), db.transaction() as session:
        mail.queue_mail(
            session, mail.new_message(settings, to="a@example.org", subject="x", text="y")
        )
        raise RuntimeError("the booking failed")
    assert mail.backlog(db) == 0


def test_smtp_down_delays_mail_and_loses_none(
    backend: Backend, smtp_port: int, smtp_server: tuple[Controller, _Inbox]
) -> None:
    controller, inbox = smtp_server
    settings = backend.settings(EYHUB_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}?timeout=2")
    upgrade("bookings", settings, None)  # the kernel's mail_outbox
    db = Database(settings.database_url("bookings"))
    _queue(db, settings, 4)

    # Server down: nothing sent, nothing dropped, a retry is scheduled.
    assert mail.deliver_pending(db, settings) == 0
    assert mail.backlog(db) == 4

    controller.start()
    with db.transaction() as session:  # skip the backoff wait instead of sleeping
        for row in session.query(mail.MailOutbox):
            row.next_attempt_at = mail.utcnow()
    assert mail.deliver_pending(db, settings) == 4
    assert sorted(m["To"] for m in inbox.messages) == [f"p{i}@example.org" for i in range(4)]
    assert mail.backlog(db) == 0
    assert not list(settings.mail_dir.glob("*.eml"))
