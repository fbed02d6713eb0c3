"""Every change to identity: the API, the CLI and the demo all come through here."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.models import HubMembership, KnownHub, RefreshToken, User, UserRole
from shared.auth import ROLES
from shared.config import Settings, password_hash_profile
from shared.db import Database, utcnow
from shared.events import identity as identity_events
from shared.identity import apply_state, state_event
from shared.mail import MailTemplates, new_message, queue_mail
from shared.messaging import publish
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
    verified: bool = True,
) -> User:
    """A new account, inside the caller's transaction; 409 if the email is taken.

    ``verified``: accounts an admin (or the demo) makes are confirmed; self-registered
    ones wait for their owner to follow the mailed link."""
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
        email_verified_at=utcnow() if verified else None,
    )
    _set_roles(user, roles)
    _set_hubs(user, hub_ids)
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent create of the same email won the race
        raise _duplicate(email) from exc
    announce(session, user)  # every service learns the account (and how to address it)
    log.info("user created", extra={"user_id": str(user.id), "roles": user.roles})
    return user


#: Self-registration mails: ``gateway/templates/mail/NAME.txt`` and ``.html``.
TEMPLATES = MailTemplates("gateway")
#: How long a confirmation link works.
CONFIRM_HOURS = 48


def _mail(
    session: Session, settings: Settings, user: User, template: str, subject: str, **context: Any
) -> None:
    body = TEMPLATES.render(template, name=user.name, **context)
    message = new_message(settings, to=user.email, subject=subject, text=body.text, html=body.html)
    queue_mail(session, message)


def register(
    db: Database,
    settings: Settings,
    data: dict[str, Any],
    *,
    confirmation_link: Callable[[User], str],
) -> None:
    """Self-service sign-up: a practitioner, in their hub if they named one.

    The answer is the same whether or not the address has an account, so registering
    cannot be used to find out who uses eyhub: a new account is mailed a confirmation
    link (it cannot book until confirmed), the owner of an existing one is mailed "you
    already have an account" (or a fresh link, if they never confirmed). The password
    is hashed either way, so the time taken tells nothing either.
    """
    email = normalise_email(data["email"])
    hub_id = data.get("hub_id")
    with db.transaction() as session:
        existing = session.scalar(select(User).where(User.email == email))
        if existing is None:
            try:
                with session.begin_nested():
                    user = _add_user(
                        session,
                        email=email,
                        password=data["password"],
                        name=data["name"],
                        roles=("practitioner",),
                        hub_ids=[hub_id] if hub_id else [],
                        setting_type=data["setting_type"],
                        setting_name=data.get("setting_name"),
                        ofsted_urn=data.get("ofsted_urn"),
                        verified=False,
                    )
            except Problem:  # a concurrent registration of the same address won
                existing = session.scalar(select(User).where(User.email == email))
            else:
                _mail(
                    session,
                    settings,
                    user,
                    "confirm_email",
                    "Confirm your email address for eyhub",
                    link=confirmation_link(user),
                    hours=CONFIRM_HOURS,
                )
                return
        hash_password(data["password"])
        if existing is None or not existing.is_active:
            return
        if existing.email_verified_at is None:
            _mail(
                session,
                settings,
                existing,
                "confirm_email",
                "Confirm your email address for eyhub",
                link=confirmation_link(existing),
                hours=CONFIRM_HOURS,
            )
        else:
            _mail(
                session,
                settings,
                existing,
                "already_registered",
                "You already have an eyhub account",
                sign_in=settings.public_url,
            )


def confirm_email(db: Database, user_id: str, email: str) -> User:
    """Mark the address confirmed (again is harmless); the link must be for the account's
    current address."""
    with db.transaction() as session:
        user = _get_user(session, user_id)
        if user.email != email or not user.is_active:
            raise Problem(
                400, "Bad request", "This link is no longer valid.", kind="bad-confirmation"
            )
        if user.email_verified_at is None:
            user.email_verified_at = utcnow()
            log.info("email confirmed", extra={"user_id": str(user.id)})
        return user


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
        was_active = user.is_active
        for key, value in changes.items():
            setattr(user, key, value)
        if was_active and not user.is_active:
            # Reactivating later must not revive the tokens of before.
            _end_sessions(session, user)
        session.flush()
        announce(session, user)
        log.info("user updated", extra={"user_id": str(user.id), "by": actor_id})
        return user


def announce(session: Session, user: User) -> None:
    """Record the account's state in this database's identity replica and tell every
    service (``shared/identity.py``), in the caller's transaction."""
    data = state_event(
        user_id=user.id,
        is_active=user.is_active,
        roles=user.roles,
        hub_ids=user.hub_ids,
        tokens_valid_after=user.tokens_valid_after,
        changed_at=utcnow(),
        email=user.email,
        name=user.name,
    )
    apply_state(session, data)
    kind = identity_events.USER_CHANGED if user.is_active else identity_events.USER_DEACTIVATED
    publish(session, kind, data)


def _end_sessions(session: Session, user: User) -> None:
    """Void every token the account holds: access tokens via ``tokens_valid_after``,
    refresh tokens by revoking them."""
    now = utcnow()
    user.tokens_valid_after = now
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


# --------------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class Grant:
    """A signed-in session's account and its new refresh token (sent once, never stored)."""

    user: User
    refresh_token: str
    refresh_expires_at: datetime


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _new_refresh(
    session: Session, user: User, settings: Settings, family_id: uuid.UUID | None = None
) -> Grant:
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(seconds=settings.refresh_ttl_seconds)
    session.add(
        RefreshToken(
            token_hash=_hash_token(token),
            user_id=user.id,
            family_id=family_id or uuid.uuid4(),
            expires_at=expires_at,
        )
    )
    session.flush()
    return Grant(user=user, refresh_token=token, refresh_expires_at=expires_at)


def start_session(db: Database, user: User, settings: Settings) -> Grant:
    """A refresh token (a new family) for a user who just proved their password."""
    with db.transaction() as session:
        fresh = _get_user(session, user.id)
        return _new_refresh(session, fresh, settings)


def _refused(detail: str) -> Problem:
    return Problem(401, "Authentication failed", detail, kind="bad-refresh-token")


def refresh_session(db: Database, token: str, settings: Settings) -> Grant:
    """Trade a refresh token for the next one (rotation); reuse revokes the family.

    The swap is one conditional UPDATE (``used_at IS NULL``), so of two concurrent
    refreshes with the same token exactly one wins; the other counts as reuse.
    """
    now = utcnow()
    reused = False
    with db.transaction() as session:
        row = session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == _hash_token(token))
        )
        if row is None:
            raise _refused("Unknown refresh token; sign in again.")
        if row.revoked_at is not None:
            raise _refused("This session was signed out; sign in again.")
        claimed = session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
            .values(used_at=now)
        ).rowcount
        if not claimed:
            session.execute(
                update(RefreshToken)
                .where(RefreshToken.family_id == row.family_id, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            reused = True
        elif row.expires_at <= now:
            raise _refused("The refresh token has expired; sign in again.")
        else:
            user = _get_user(session, row.user_id)
            if not user.is_active:
                raise _refused("This account is deactivated.")
            return _new_refresh(session, user, settings, row.family_id)
    assert reused
    log.warning(
        "refresh token reused; session family revoked", extra={"family": str(row.family_id)}
    )
    raise _refused("This refresh token was already used; the session is signed out.")


def end_session(db: Database, user_id: str, *, refresh_token: str | None, everywhere: bool) -> None:
    """Sign out: revoke the refresh token's family, or (``everywhere``) every token the
    account holds, access tokens included (announced to every service)."""
    now = utcnow()
    with db.transaction() as session:
        user = _get_user(session, user_id)
        if everywhere:
            _end_sessions(session, user)
            session.flush()
            announce(session, user)
            return
        if refresh_token:
            row = session.scalar(
                select(RefreshToken).where(RefreshToken.token_hash == _hash_token(refresh_token))
            )
            if row is None or row.user_id != user.id:
                raise Problem(
                    422,
                    "Invalid request",
                    errors={"refresh_token": ["Not a refresh token of this account."]},
                )
            session.execute(
                update(RefreshToken)
                .where(RefreshToken.family_id == row.family_id, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=now)
            )


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


#: Budget lines as hub leads read them (the budget service's line codes).
LINE_NAMES = {
    "training_delivery": "Training delivery",
    "backfill": "Backfill (staff cover)",
    "mentoring": "Mentoring",
    "venue": "Venue",
    "resources": "Resources",
    "other": "Other",
}


def alert_hub_leads(session: Session, settings: Settings, data: dict[str, Any]) -> int:
    """Mail every active lead of the hub that a budget line crossed a threshold.

    The gateway is who knows the hub's leads (roles and hub memberships live here), so
    the budget service announces ``budget.alert.raised`` and this sends the mail, in
    the consumer's transaction (exactly once with the inbox). Returns how many.
    """
    hub_id = data["hub_id"]
    leads = list(
        session.scalars(
            select(User)
            .join(HubMembership, HubMembership.user_id == User.id)
            .join(UserRole, UserRole.user_id == User.id)
            .where(
                HubMembership.hub_id == hub_id,
                UserRole.role == "hub_lead",
                User.is_active.is_(True),
            )
            .order_by(User.email)
        )
    )
    hub = session.get(KnownHub, hub_id)
    line = LINE_NAMES.get(data["line"], data["line"])
    allocated, used = data["allocated_pence"], data["used_pence"]
    context = {
        "hub": hub.name if hub is not None else "your hub",
        "line": line,
        "year": data["financial_year"],
        "threshold": data["threshold_percent"],
        "allocated": f"£{allocated / 100:,.2f}",
        "used": f"£{used / 100:,.2f}",
        "left": f"£{max(0, allocated - used) / 100:,.2f}",
        "over": used > allocated,
        "link": f"{settings.public_url}/hubs/{hub_id}/budget",
    }
    subject = f"Budget alert: {line} at {data['threshold_percent']}% ({data['financial_year']})"
    for lead in leads:
        _mail(session, settings, lead, "budget_alert", subject, **context)
    return len(leads)
