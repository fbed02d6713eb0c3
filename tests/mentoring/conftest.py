"""Fixtures for the mentoring service: an app on a fresh backend, people, and helpers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from services.mentoring.app import create_app
from shared.db import Database
from shared.mail import MailOutbox
from shared.messaging.models import OutboxMessage
from tests.support.backends import Backend
from tests.support.tokens import bearer, install_test_verifier, make_token

HUB = uuid.UUID("11111111-1111-4111-8111-111111111111")
OTHER_HUB = uuid.UUID("22222222-2222-4222-8222-222222222222")


@dataclass(frozen=True)
class Person:
    user_id: str
    token: str
    email: str
    name: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


@dataclass
class MentoringApp:
    app: Flask
    db: Database

    @property
    def settings(self):  # type: ignore[no-untyped-def]
        return self.app.extensions["eyhub"].settings

    @property
    def client(self):  # type: ignore[no-untyped-def]
        return self.app.test_client()

    def person(
        self,
        *roles: str,
        hubs: tuple[uuid.UUID, ...] = (),
        name: str = "Pat Person",
        user_id: str | None = None,
    ) -> Person:
        uid = user_id or str(uuid.uuid4())
        email = f"{uid[:8]}@example.org"
        token = make_token(
            self.settings,
            user_id=uid,
            roles=roles or ("practitioner",),
            hub_ids=[str(h) for h in hubs],
            email=email,
            name=name,
        )
        return Person(uid, token, email, name)

    def practitioner(self, name: str = "Amira Hussain") -> Person:
        return self.person("practitioner", name=name)

    def mentor(self, hub: uuid.UUID = HUB, name: str = "Margaret Ellison") -> Person:
        return self.person("mentor", hubs=(hub,), name=name)

    def lead(self, hub: uuid.UUID = HUB) -> Person:
        return self.person("hub_lead", hubs=(hub,), name="Helen Lead")

    def admin(self) -> Person:
        return self.person("admin", name="Ada Admin")

    # -- calls ---------------------------------------------------------------------------
    def put_profile(self, who: Person, **overrides: Any) -> Any:
        return self.client.put(
            "/api/mentoring/mentors/me", json=profile_body(**overrides), headers=who.headers
        )

    def ask(self, who: Person, **overrides: Any) -> Any:
        return self.client.post(
            "/api/mentoring/requests", json=request_body(**overrides), headers=who.headers
        )

    def run(self, who: Person, hub: uuid.UUID = HUB) -> Any:
        return self.client.post(f"/api/mentoring/hubs/{hub}/matching-runs", headers=who.headers)

    def act(self, who: Person, match_id: str, action: str, body: Any = None) -> Any:
        return self.client.post(
            f"/api/mentoring/matches/{match_id}/{action}", json=body, headers=who.headers
        )

    # -- what was written ---------------------------------------------------------------
    def events(self, event_type: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        with self.db.read() as s:
            rows = list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.position)))
        return [(r.event_type, r.data) for r in rows if event_type in (None, r.event_type)]

    def mails(self, to: str | None = None) -> list[EmailMessage]:
        with self.db.read() as s:
            rows = list(s.scalars(select(MailOutbox).order_by(MailOutbox.created_at)))
        parser = BytesParser(policy=policy.default)
        found = [parser.parsebytes(r.message) for r in rows]
        return [m for m in found if to is None or m["To"] == to]


def profile_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hub_id": str(HUB),
        "specialisms": ["send", "psed"],
        "setting_types": ["nursery", "childminder"],
        "formats": ["online", "in_person"],
        "region": "South East",
        "capacity": 3,
        "languages": ["English"],
        "bio": "Former nursery manager.\nSEND and transitions.",
        "available": True,
        "setting_name": "Hollybank Nursery",
    }
    body.update(overrides)
    return body


def request_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hub_id": str(HUB),
        "topics": ["send"],
        "goals": "Plan support for two children with SEND.\nBuild confidence with EHCPs.",
        "format": "online",
        "setting_type": "childminder",
        "setting_name": "Little Acorns Childminding",
    }
    body.update(overrides)
    return body


@pytest.fixture
def mentoring(backend: Backend) -> Iterator[MentoringApp]:
    app = create_app(backend.settings(EYHUB_AUTO_MIGRATE="true"))
    install_test_verifier(app)
    rt = app.extensions["eyhub"]
    yield MentoringApp(app=app, db=rt.db)
    rt.db.dispose()
