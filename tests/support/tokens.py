"""Tokens for in-process service tests: a throwaway RSA key and a static JWKS verifier."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask

from shared.auth import TokenVerifier, issue_token
from shared.config import Settings

KID = "test-key-1"


@cache
def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks() -> dict:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(_key().public_key()))
    return {"keys": [{**public, "kid": KID, "alg": "RS256", "use": "sig"}]}


def install_test_verifier(app: Flask) -> None:
    """Make ``app`` trust tokens from :func:`make_token` (instead of fetching a JWKS)."""
    rt = app.extensions["eyhub"]
    rt.extras["token_verifier"] = TokenVerifier(
        issuer=rt.settings.jwt_issuer, audience=rt.settings.jwt_audience, jwks=jwks()
    )


def make_token(
    settings: Settings,
    *,
    user_id: str = "00000000-0000-4000-8000-000000000001",
    roles: Iterable[str] = ("practitioner",),
    hub_ids: Iterable[str] = (),
    email: str = "someone@example.org",
    name: str = "Some One",
    setting_type: str | None = None,
    ttl: int | None = None,
    email_verified: bool = True,
) -> str:
    return issue_token(
        _key(),
        KID,
        settings,
        user_id=user_id,
        email=email,
        name=name,
        roles=roles,
        hub_ids=hub_ids,
        setting_type=setting_type,
        ttl=ttl,
        email_verified=email_verified,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
