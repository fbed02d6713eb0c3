"""The identity API: sign-up, tokens, the caller, and account administration.

Roles: ``practitioner`` (self-registered), ``mentor``, ``hub_lead`` (scoped to
``hub_ids``) and ``admin``. Tokens are RS256 JWTs verified by every service with
``shared.auth``; the public keys are at ``/.well-known/jwks.json``.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
from flask import Response, jsonify
from flask_limiter import Limiter
from flask_smorest import Blueprint

from gateway import operations
from gateway.hubs import HubDirectory
from gateway.limits import login_limits
from gateway.models import User
from gateway.schemas import (
    ConfirmEmailSchema,
    JwksSchema,
    LogoutSchema,
    RefreshRequestSchema,
    RegisterSchema,
    RegistrationSchema,
    TokenRequestSchema,
    TokenSchema,
    UserCreateSchema,
    UserPageSchema,
    UserQuerySchema,
    UserSchema,
    UserUpdateSchema,
)
from shared.auth import issue_token, require_identity, require_role, requires
from shared.problems import Problem
from shared.web import current_db, runtime

BEARER = [{"bearerAuth": []}]


def _keyring():  # type: ignore[no-untyped-def]
    return runtime().extras["keyring"]


def _settings():  # type: ignore[no-untyped-def]
    return runtime().settings


def _hubs() -> HubDirectory:
    return runtime().extras["hubs"]  # type: ignore[no-any-return]


def _token_pair(grant: operations.Grant) -> dict[str, Any]:
    """A short-lived access token for the grant's user, with its refresh token."""
    settings = _settings()
    user = grant.user
    key = _keyring().signing_key
    access_token = issue_token(
        key.private_key,
        key.kid,
        settings,
        user_id=str(user.id),
        email=user.email,
        name=user.name,
        roles=user.roles,
        hub_ids=user.hub_ids,
        setting_type=user.setting_type,
        email_verified=user.email_verified_at is not None,
    )
    return {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": settings.token_ttl_seconds,
        "refresh_token": grant.refresh_token,
        "refresh_expires_in": settings.refresh_ttl_seconds,
    }


#: Confirmation links are tokens for this audience (the access audience + this suffix),
#: so no service takes one for access.
CONFIRM_AUDIENCE = ":confirm-email"


def _confirmation_link(user: User) -> str:
    settings = _settings()
    now = int(time.time())
    token = _keyring().sign(
        {
            "sub": str(user.id),
            "email": user.email,
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience + CONFIRM_AUDIENCE,
            "iat": now,
            "exp": now + operations.CONFIRM_HOURS * 3600,
        }
    )
    # The web page (gateway/web/views.py confirm_email), which confirms through this API
    # and tells a person what happened; API clients may call /api/auth/confirm-email.
    return f"{settings.public_url}/confirm-email?token={token}"


def blueprints(limiter: Limiter) -> list[Blueprint]:
    """Built per app, because the rate limits belong to that app's limiter."""
    auth = Blueprint(
        "auth", __name__, url_prefix="/api/auth", description="Accounts, tokens and roles."
    )

    @auth.route("/register", methods=["POST"])
    @limiter.limit(lambda: _settings().rate_limit_register, scope="register")
    @auth.arguments(RegisterSchema)
    @auth.response(202, RegistrationSchema)
    @auth.alt_response(429, description="Too many registrations from this address.")
    def register(data: dict[str, Any]) -> dict[str, Any]:
        """Ask for a practitioner account: we email a link to confirm the address.

        The answer is the same for an address that already has an account (its owner is
        emailed instead), so this cannot tell anyone who uses eyhub. Until the address
        is confirmed the account can sign in and look around, but not book.
        """
        if data.get("hub_id"):
            _hubs().require_known(current_db(), [data["hub_id"]], "hub_id")
        operations.register(current_db(), _settings(), data, confirmation_link=_confirmation_link)
        return {
            "email": operations.normalise_email(data["email"]),
            "detail": "Check your email: we sent a link to confirm your address.",
        }

    @auth.route("/confirm-email", methods=["GET", "POST"])
    @auth.arguments(ConfirmEmailSchema, location="query")
    @auth.response(200, UserSchema)
    @auth.alt_response(400, description="The link is not valid, or has expired.")
    def confirm_email(data: dict[str, Any]) -> User:
        """Confirm an email address with the link mailed at registration (a new sign-in,
        or a refresh, then gives a token that may book)."""
        audience = _settings().jwt_audience + CONFIRM_AUDIENCE
        try:
            claims = _keyring().decode(data["token"], audience=audience)
        except (jwt.PyJWTError, ValueError) as exc:
            raise Problem(
                400,
                "Bad request",
                "This link is not valid or has expired: register again for a new one.",
                kind="bad-confirmation",
            ) from exc
        return operations.confirm_email(current_db(), str(claims["sub"]), str(claims["email"]))

    @auth.route("/token", methods=["POST"])
    @login_limits(limiter)  # failed logins per (IP, email), per IP, per email: gateway/limits.py
    @auth.arguments(TokenRequestSchema)
    @auth.response(200, TokenSchema)
    @auth.alt_response(401, description="Wrong email or password.")
    @auth.alt_response(429, description="Too many failed logins for this account.")
    def token(data: dict[str, Any]) -> dict[str, Any]:
        """Exchange email and password for an access token and a refresh token."""
        user = operations.authenticate(current_db(), data["email"], data["password"])
        if user is None:
            raise Problem(
                401, "Authentication failed", "Wrong email or password.", kind="bad-credentials"
            )
        return _token_pair(operations.start_session(current_db(), user, _settings()))

    @auth.route("/refresh", methods=["POST"])
    @limiter.limit(
        lambda: _settings().rate_limit_login,
        scope="refresh",
        deduct_when=lambda resp: resp.status_code == 401,
    )
    @auth.arguments(RefreshRequestSchema)
    @auth.response(200, TokenSchema)
    @auth.alt_response(401, description="Unknown, expired, used or revoked refresh token.")
    def refresh(data: dict[str, Any]) -> dict[str, Any]:
        """Trade a refresh token for a new pair. Each refresh token works once: using one
        twice signs the whole session out (it may have been stolen)."""
        grant = operations.refresh_session(current_db(), data["refresh_token"], _settings())
        return _token_pair(grant)

    @auth.route("/logout", methods=["POST"])
    @requires()
    @auth.arguments(LogoutSchema)
    @auth.response(204)
    @auth.doc(security=BEARER)
    def logout(data: dict[str, Any]) -> None:
        """End this session (send its refresh token), or every session with
        ``everywhere: true`` (access tokens stop working at every service within seconds)."""
        who = require_identity()
        operations.end_session(
            current_db(),
            who.user_id,
            refresh_token=data.get("refresh_token"),
            everywhere=data["everywhere"],
        )

    @auth.route("/me", methods=["GET"])
    @requires()
    @auth.response(200, UserSchema)
    @auth.alt_response(401, description="No or bad token.")
    @auth.doc(security=BEARER)
    def me() -> User:
        """The caller's account, with roles and hub_ids as stored now."""
        identity = require_identity()
        user = operations.get_user(current_db(), identity.user_id)
        if not user.is_active:
            raise Problem(401, "Authentication required", "This account is deactivated.")
        return user

    @auth.route("/users", methods=["GET"])
    @requires("admin")
    @auth.arguments(UserQuerySchema, location="query")
    @auth.response(200, UserPageSchema)
    @auth.doc(security=BEARER)
    def list_users(query: dict[str, Any]) -> dict[str, Any]:
        """Accounts by email, a page at a time: pass ``next_cursor`` as ``cursor`` (admin)."""
        require_role("admin")
        return operations.list_users(current_db(), query)

    @auth.route("/users", methods=["POST"])
    @requires("admin")
    @auth.arguments(UserCreateSchema)
    @auth.response(201, UserSchema)
    @auth.alt_response(409, description="An account already exists for this email.")
    @auth.doc(security=BEARER)
    def create_user(data: dict[str, Any]) -> User:
        """Create an account with any roles and hubs (admin)."""
        require_role("admin")
        _hubs().require_known(current_db(), data.get("hub_ids") or (), "hub_ids")
        return operations.create_user(current_db(), **data)

    @auth.route("/users/<uuid:user_id>", methods=["GET"])
    @requires("admin")
    @auth.response(200, UserSchema)
    @auth.doc(security=BEARER)
    def get_user(user_id: Any) -> User:
        """One account (admin)."""
        require_role("admin")
        return operations.get_user(current_db(), user_id)

    @auth.route("/users/<uuid:user_id>", methods=["PATCH"])
    @requires("admin")
    @auth.arguments(UserUpdateSchema)
    @auth.response(200, UserSchema)
    @auth.alt_response(409, description="An admin cannot lock themselves out.")
    @auth.doc(security=BEARER)
    def update_user(changes: dict[str, Any], user_id: Any) -> User:
        """Change roles, hubs, setting or active flag (admin). Tokens that carry rights
        the account lost (or any token, when deactivated) stop working at every service
        within seconds; new rights need a new sign-in."""
        who = require_role("admin")
        _hubs().require_known(current_db(), changes.get("hub_ids") or (), "hub_ids")
        return operations.update_user(current_db(), user_id, changes, actor_id=who.user_id)

    keys = Blueprint("keys", __name__, url_prefix="/.well-known", description="Token keys.")

    @keys.route("/jwks.json", methods=["GET"])
    @keys.response(200, JwksSchema)
    def jwks() -> Response:
        """Public keys that verify eyhub tokens (several during a rotation)."""
        resp = jsonify(_keyring().current_jwks())
        resp.headers["Cache-Control"] = "public, max-age=300"
        return resp

    return [auth, keys]
