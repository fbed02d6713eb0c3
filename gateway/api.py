"""The identity API: sign-up, tokens, the caller, and account administration.

Roles: ``practitioner`` (self-registered), ``mentor``, ``hub_lead`` (scoped to
``hub_ids``) and ``admin``. Tokens are RS256 JWTs verified by every service with
``shared.auth``; the public keys are at ``/.well-known/jwks.json``.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from flask_limiter import Limiter
from flask_smorest import Blueprint

from gateway import operations
from gateway.limits import login_key
from gateway.models import User
from gateway.schemas import (
    JwksSchema,
    RegisterSchema,
    TokenRequestSchema,
    TokenSchema,
    UserCreateSchema,
    UserPageSchema,
    UserQuerySchema,
    UserSchema,
    UserUpdateSchema,
)
from shared.auth import issue_token, require_identity, require_role
from shared.problems import Problem
from shared.web import current_db, runtime

BEARER = [{"bearerAuth": []}]


def _keyring():  # type: ignore[no-untyped-def]
    return runtime().extras["keyring"]


def _settings():  # type: ignore[no-untyped-def]
    return runtime().settings


def blueprints(limiter: Limiter) -> list[Blueprint]:
    """Built per app, because the rate limits belong to that app's limiter."""
    auth = Blueprint(
        "auth", __name__, url_prefix="/api/auth", description="Accounts, tokens and roles."
    )

    @auth.route("/register", methods=["POST"])
    @limiter.limit(lambda: _settings().rate_limit_register, scope="register")
    @auth.arguments(RegisterSchema)
    @auth.response(201, UserSchema)
    @auth.alt_response(409, description="An account already exists for this email.")
    @auth.alt_response(429, description="Too many registrations from this address.")
    def register(data: dict[str, Any]) -> User:
        """Create a practitioner account."""
        return operations.register(current_db(), data)

    @auth.route("/token", methods=["POST"])
    @limiter.limit(
        lambda: _settings().rate_limit_login,
        key_func=login_key,
        scope="login",
        deduct_when=lambda resp: resp.status_code == 401,
    )
    @auth.arguments(TokenRequestSchema)
    @auth.response(200, TokenSchema)
    @auth.alt_response(401, description="Wrong email or password.")
    @auth.alt_response(429, description="Too many failed logins for this account.")
    def token(data: dict[str, Any]) -> dict[str, Any]:
        """Exchange email and password for a bearer token."""
        user = operations.authenticate(current_db(), data["email"], data["password"])
        if user is None:
            raise Problem(
                401, "Authentication failed", "Wrong email or password.", kind="bad-credentials"
            )
        settings = _settings()
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
        )
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": settings.token_ttl_seconds,
        }

    @auth.route("/me", methods=["GET"])
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
    @auth.arguments(UserQuerySchema, location="query")
    @auth.response(200, UserPageSchema)
    @auth.doc(security=BEARER)
    def list_users(query: dict[str, Any]) -> dict[str, Any]:
        """Accounts by email, a page at a time: pass ``next_cursor`` as ``cursor`` (admin)."""
        require_role("admin")
        return operations.list_users(current_db(), query)

    @auth.route("/users", methods=["POST"])
    @auth.arguments(UserCreateSchema)
    @auth.response(201, UserSchema)
    @auth.alt_response(409, description="An account already exists for this email.")
    @auth.doc(security=BEARER)
    def create_user(data: dict[str, Any]) -> User:
        """Create an account with any roles and hubs (admin)."""
        require_role("admin")
        return operations.create_user(current_db(), **data)

    @auth.route("/users/<uuid:user_id>", methods=["GET"])
    @auth.response(200, UserSchema)
    @auth.doc(security=BEARER)
    def get_user(user_id: Any) -> User:
        """One account (admin)."""
        require_role("admin")
        return operations.get_user(current_db(), user_id)

    @auth.route("/users/<uuid:user_id>", methods=["PATCH"])
    @auth.arguments(UserUpdateSchema)
    @auth.response(200, UserSchema)
    @auth.alt_response(409, description="An admin cannot lock themselves out.")
    @auth.doc(security=BEARER)
    def update_user(changes: dict[str, Any], user_id: Any) -> User:
        """Change roles, hubs, setting or active flag (admin). Takes effect at next login."""
        who = require_role("admin")
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
