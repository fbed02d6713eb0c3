"""Every change to identity: the API, the CLI and the demo all come through here."""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterable
from typing import Any

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.models import HubMembership, User, UserRole
from shared.auth import ROLES
from shared.config import Settings, password_hash_profile
from shared.db import Database
from shared.pagination import page, text_key
from shared.problems import Problem

log = logging.getLogger("eyhub.gateway.identity")


class _FastHasher(PasswordHasher):
    """The ``fast`` profile's hasher: cheap new hashes, and it never rewrites a stored
    hash (a test profile switched on by mistake must not downgrade real users' hashes)."""

    def check_needs_rehash(self, hash: str | bytes) -> bool:
        return False


def build_hasher(profile: str) -> PasswordHasher:
    """argon2id at the cost EYHUB_PASSWORD_HASH_PROFILE names.

    ``default``: argon2-cffi's defaults (RFC 9106 low-memory profile: 64 MiB, 3 passes).
    ``fast``: the library's cheapest parameters (8 KiB, 1 pass), so a test suite's
    hundreds of logins take milliseconds instead of minutes. A hash records its own
    parameters, so either hasher verifies any stored hash; under ``default`` a login
    upgrades a hash made at another cost (``check_needs_rehash``).
    """
    if profile == "fast":
        return _FastHasher.from_parameters(profiles.CHEAPEST)
    return PasswordHasher()


hasher = build_hasher(password_hash_profile())

#: At most one hash per core at a time: a burst of logins queues instead of taking
#: 64 MiB per request thread and starving every other request of CPU.
_KDF_SLOTS = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))


def hash_password(password: str) -> str:
    with _KDF_SLOTS:
        return hasher.hash(password)


def _check_password(stored: str, password: str) -> bool:
    with _KDF_SLOTS:
        try:
            return hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False


#: Verified against when the email is unknown, so both answers take as long.
_DUMMY_HASH = hasher.hash("not a real password")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _duplicate(email: str) -> Problem:
    return Problem(
        409, "Conflict", f"An account already exists for {email}.", kind="duplicate-email"
    )


def _set_roles(user: User, roles: Iterable[str]) -> None:
    wanted = sorted(set(roles))
    unknown = [r for r in wanted if r not in ROLES]
    if unknown:
        raise Problem(422, "Invalid request", errors={"roles": [f"Unknown role {unknown[0]}."]})
    user.role_rows = [UserRole(role=r) for r in wanted]


def _set_hubs(user: User, hub_ids: Iterable[uuid.UUID | str]) -> None:
    user.hub_rows = [HubMembership(hub_id=h) for h in sorted({uuid.UUID(str(h)) for h in hub_ids})]


def _add_user(
    session: Session,
    *,
    email: str,
    password: str,
    name: str,
    roles: Iterable[str] = ("practitioner",),
    hub_ids: Iterable[uuid.UUID | str] = (),
    setting_type: str | None = None,
    setting_name: str | None = None,
    ofsted_urn: str | None = None,
) -> User:
    """A new account, inside the caller's transaction; 409 if the email is taken."""
    email = normalise_email(email)
    if session.scalar(select(exists().where(User.email == email))):
        raise _duplicate(email)
    user = User(
        email=email,
        name=name.strip(),
        password_hash=hash_password(password),
        setting_type=setting_type,
        setting_name=setting_name,
        ofsted_urn=ofsted_urn.upper() if ofsted_urn else None,
        is_active=True,
    )
    _set_roles(user, roles)
    _set_hubs(user, hub_ids)
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent create of the same email won the race
        raise _duplicate(email) from exc
    log.info("user created", extra={"user_id": str(user.id), "roles": user.roles})
    return user


def register(db: Database, data: dict[str, Any]) -> User:
    """Self-service sign-up: always a practitioner, in their hub if they named one."""
    hub_id = data.get("hub_id")
    with db.transaction() as session:
        return _add_user(
            session,
            email=data["email"],
            password=data["password"],
            name=data["name"],
            roles=("practitioner",),
            hub_ids=[hub_id] if hub_id else [],
            setting_type=data["setting_type"],
            setting_name=data.get("setting_name"),
            ofsted_urn=data.get("ofsted_urn"),
        )


def authenticate(db: Database, email: str, password: str) -> User | None:
    """The active user with these credentials, else None (same work either way)."""
    email = normalise_email(email)
    with db.read() as session:
        user = session.scalar(select(User).where(User.email == email))
    if user is None or not user.is_active:
        _check_password(_DUMMY_HASH, password)
        return None
    if not _check_password(user.password_hash, password):
        return None
    if hasher.check_needs_rehash(user.password_hash):
        with db.transaction() as session:
            fresh = session.get(User, user.id)
            if fresh is not None:
                fresh.password_hash = hash_password(password)
    return user


def _get_user(session: Session, user_id: uuid.UUID | str) -> User:
    try:
        key = uuid.UUID(str(user_id))
    except ValueError as exc:
        raise Problem(404, "Not found", "No such user.") from exc
    user = session.get(User, key)
    if user is None:
        raise Problem(404, "Not found", "No such user.")
    return user


def update_user(
    db: Database, user_id: uuid.UUID | str, changes: dict[str, Any], *, actor_id: str
) -> User:
    """An admin's change to an account (roles, hubs, setting, active)."""
    with db.transaction() as session:
        user = _get_user(session, user_id)
        if str(user.id) == actor_id:
            losing_admin = "roles" in changes and "admin" not in changes["roles"]
            if losing_admin or changes.get("is_active") is False:
                raise Problem(
                    409,
                    "Conflict",
                    "You cannot remove your own admin role or deactivate yourself.",
                    kind="self-lockout",
                )
        if "roles" in changes:
            _set_roles(user, changes.pop("roles"))
        if "hub_ids" in changes:
            _set_hubs(user, changes.pop("hub_ids"))
        if changes.get("ofsted_urn"):
            changes["ofsted_urn"] = changes["ofsted_urn"].upper()
        for key, value in changes.items():
            setattr(user, key, value)
        session.flush()
        log.info("user updated", extra={"user_id": str(user.id), "by": actor_id})
        return user


def list_users(db: Database, query: dict[str, Any]) -> dict[str, Any]:
    """Users ordered by email, in pages of the kernel paginator (stable under inserts)."""
    stmt = select(User)
    if query.get("role"):
        stmt = stmt.where(
            exists().where(UserRole.user_id == User.id, UserRole.role == query["role"])
        )
    if query.get("hub_id"):
        stmt = stmt.where(
            exists().where(
                HubMembership.user_id == User.id, HubMembership.hub_id == query["hub_id"]
            )
        )
    if query.get("q"):
        needle = f"%{query['q'].lower()}%"
        stmt = stmt.where(User.email.like(needle) | User.name.ilike(needle))
    with db.read() as session:
        users, next_cursor = page(
            session,
            stmt,
            key=User.email,
            ident=User.id,
            limit=query["limit"],
            cursor=query.get("cursor"),
            parse=text_key,
        )
    return {"items": users, "next_cursor": next_cursor}


def ensure_admin(db: Database, settings: Settings) -> bool:
    """The bootstrap admin exists (created if missing; never overwritten). True if created."""
    email = normalise_email(settings.admin_email)
    with db.transaction() as session:
        if session.scalar(select(exists().where(User.email == email))):
            return False
        try:
            with session.begin_nested():
                _add_user(
                    session,
                    email=email,
                    password=settings.admin_password,
                    name="eyhub administrator",
                    roles=("admin",),
                )
        except Problem:  # another worker created it meanwhile
            return False
    log.info("bootstrap admin created", extra={"email": email})
    return True


def create_user(db: Database, **fields: Any) -> User:
    """An admin (or the shell) creates an account with any roles and hubs."""
    with db.transaction() as session:
        return _add_user(session, **fields)


def create_users(db: Database, people: Iterable[dict[str, Any]], password: str) -> int:
    """Create the accounts whose emails are new, in one transaction; returns how many."""
    with db.transaction() as session:
        existing = set(session.scalars(select(User.email)))
        fresh = [p for p in people if normalise_email(p["email"]) not in existing]
        for person in fresh:
            _add_user(session, password=password, **person)
        return len(fresh)


def get_user(db: Database, user_id: uuid.UUID | str) -> User:
    """One account as stored now; 404 if there is none."""
    with db.read() as session:
        return _get_user(session, user_id)
