"""Mail: queued in the component's database, delivered by its worker.

``queue_mail(session, message)`` writes the message in the caller's transaction, so a
booking and its confirmation mail commit together. The worker's ``deliver_pending``
sends queued mail: as ``.eml`` files under ``$EYHUB_DATA_DIR/mail/`` by default, over
SMTP when ``EYHUB_SMTP_URL`` is set. A failing SMTP server only delays mail: rows stay
queued and are retried with backoff; nothing is lost.

Bodies come from Jinja templates (:class:`MailTemplates`): each mail is a ``NAME.txt`` and
a ``NAME.html`` in a package's ``templates/mail/``, sent as ``multipart/alternative``.

Headers are built from data (a session's title is in every booking mail's Subject), so
``new_message`` makes every header value one safe line whatever the data holds
(``header_text``): the APIs refuse control characters in titles now
(``shared/fields.py``), but rows written before that, or arriving over the bus, may
still carry a line break, which the email package refuses with a ValueError.
"""

from __future__ import annotations

import email.policy
import logging
import re
import smtplib
import ssl
import unicodedata
import uuid
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import Integer, LargeBinary, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared import metrics
from shared.config import Settings
from shared.db import Database, KernelBase, UTCDateTime, new_id, utcnow
from shared.fields import is_utf8
from shared.retry import backoff_delay

log = logging.getLogger("eyhub.mail")

MAX_ATTEMPTS = 20
#: Sizes of the outbox's header columns (``MailOutbox``).
MAX_SUBJECT = 500
MAX_ADDRESS = 320
_SPACES = re.compile(r"\s+")
_SURROGATES = re.compile("[\ud800-\udfff]")


class MailOutbox(KernelBase):
    __tablename__ = "mail_outbox"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    to_addr: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500))
    message: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class MailBody(NamedTuple):
    """The two renderings of one mail: plain text, and HTML as its alternative."""

    text: str
    html: str


class MailTemplates:
    """Mail bodies rendered from ``<package>/templates/mail/NAME.txt`` and ``NAME.html``.

    Templates, not f-strings, so every mail shares its partials (e.g. where a session
    happens) and user data is escaped in HTML by default: ``.html`` templates autoescape,
    ``.txt`` ones do not (a plain-text body must not show ``&amp;``). A missing variable
    raises (``StrictUndefined``) instead of leaving a hole in someone's mail.
    """

    def __init__(self, package: str, folder: str = "templates/mail") -> None:
        self.env = Environment(
            # The service's own templates first, then the kernel's (the ``_base.html``
            # layout every mail extends: shared/templates/mail/).
            loader=ChoiceLoader([PackageLoader(package, folder), PackageLoader("shared", folder)]),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def render(self, template: str, /, **context: Any) -> MailBody:
        """``template``'s text and HTML forms (``mail/TEMPLATE.txt`` and ``.html``)."""
        return MailBody(
            text=self.env.get_template(f"{template}.txt").render(**context),
            html=self.env.get_template(f"{template}.html").render(**context),
        )


def header_text(value: str) -> str:
    """``value`` as one header line: every control character, line or paragraph
    separator becomes a space, whitespace runs collapse, lone surrogates become U+FFFD.

    ``str.splitlines`` (which the email package's header check uses) breaks at more than
    CR and LF: at VT, FF, FS, GS, RS, NEL (U+0085) and U+2028/U+2029 too. All of these
    are in the Unicode categories Cc, Zl and Zp replaced here.
    """
    text = value if is_utf8(value) else _SURROGATES.sub("\ufffd", value)
    if text.isprintable():  # the common case: nothing to replace
        return text.strip()
    cleaned = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text)
    return _SPACES.sub(" ", cleaned).strip()


def new_message(
    settings: Settings,
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    reply_to: str | None = None,
) -> EmailMessage:
    """A message with the headers every eyhub mail carries.

    Plain text alone, or with ``html`` a ``multipart/alternative`` of the text and the
    HTML (in that order: clients show the last part they can render).
    """
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = header_text(settings.mail_from)
    msg["To"] = header_text(to)
    msg["Subject"] = header_text(subject)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=settings.public_host)
    if reply_to:
        msg["Reply-To"] = header_text(reply_to)
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


def queue_mail(session: Session, message: EmailMessage) -> MailOutbox:
    """Queue a message in the caller's transaction (it is sent only if that commits)."""
    row = MailOutbox(
        to_addr=str(message["To"])[:MAX_ADDRESS],
        subject=str(message["Subject"] or "")[:MAX_SUBJECT],
        message=message.as_bytes(policy=email.policy.SMTP),
    )
    session.add(row)
    return row


class SmtpTarget:
    """Parsed ``EYHUB_SMTP_URL``: smtp[s]://user:pass@host:port?starttls=true."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("EYHUB_SMTP_URL must start with smtp:// or smtps://")
        query = parse_qs(parts.query)
        self.host = parts.hostname or "127.0.0.1"
        self.implicit_tls = parts.scheme == "smtps"
        self.port = parts.port or (465 if self.implicit_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.starttls = query.get("starttls", ["false"])[0].lower() in ("1", "true", "yes")
        self.timeout = float(query.get("timeout", ["10"])[0])

    def send(self, raw: bytes, to_addr: str, from_addr: str) -> None:
        cls = smtplib.SMTP_SSL if self.implicit_tls else smtplib.SMTP
        with cls(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.sendmail(from_addr, [to_addr], raw)


def _write_eml(mail_dir: Path, row: MailOutbox) -> Path:
    mail_dir.mkdir(parents=True, exist_ok=True)
    stamp = row.created_at.strftime("%Y%m%dT%H%M%S")
    final = mail_dir / f"{stamp}-{row.id}.eml"
    tmp = final.with_suffix(".tmp")
    tmp.write_bytes(row.message)
    tmp.replace(final)  # readers never see half a file
    return final


def _backoff(attempts: int) -> timedelta:
    """2 s after the first failure, doubling up to 10 minutes."""
    return timedelta(seconds=backoff_delay(attempts, base=2.0, cap=600.0))


def deliver_pending(db: Database, settings: Settings, *, limit: int = 50) -> int:
    """Send what is due; return how many were sent. Safe to run in several workers."""
    smtp = SmtpTarget(settings.smtp_url) if settings.smtp_url else None
    sent = 0
    with db.transaction() as session:
        query = (
            select(MailOutbox)
            .where(MailOutbox.status == "pending", MailOutbox.next_attempt_at <= utcnow())
            .order_by(MailOutbox.created_at)
            .limit(limit)
        )
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = list(session.scalars(query))
        for row in rows:
            try:
                if smtp is None:
                    _write_eml(settings.mail_dir, row)
                else:
                    from_addr = (
                        BytesParser(policy=email.policy.SMTP)
                        .parsebytes(row.message, headersonly=True)["From"]
                        .addresses[0]
                        .addr_spec
                    )
                    smtp.send(row.message, row.to_addr, from_addr)
            except Exception as exc:  # any failure: keep it, retry later
                row.attempts += 1
                row.last_error = f"{type(exc).__name__}: {exc}"[:1000]
                row.next_attempt_at = utcnow() + _backoff(row.attempts)
                if row.attempts >= MAX_ATTEMPTS:
                    row.status = "failed"
                log.warning(
                    "mail delivery failed; will retry",
                    extra={"mail_id": str(row.id), "attempts": row.attempts},
                )
                if smtp is not None:
                    break  # the server is probably down: stop hammering it this round
                continue
            row.status = "sent"
            row.sent_at = utcnow()
            row.attempts += 1
            sent += 1
    return sent


def backlog(db: Database) -> int:
    with db.transaction() as session:
        count = session.scalar(
            select(func.count()).select_from(MailOutbox).where(MailOutbox.status == "pending")
        )
    return int(count or 0)


def mail_readiness(component: str, db: Database):  # type: ignore[no-untyped-def]
    def check() -> dict[str, int]:
        pending = backlog(db)
        metrics.MAIL_BACKLOG.labels(component).set(pending)
        return {"pending": pending}

    return check
