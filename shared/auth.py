"""Who is calling, and may they: token verification and authorization for every service.

The gateway issues RS256 JWTs and publishes its public keys as a JWKS; each service
verifies the bearer token itself (the gateway forwards it unchanged), so a request
that bypasses the gateway is no more trusted than one that goes through it.

In a view, one line says who may act::

    who = require_role("hub_lead", hub_id=event.hub_id)   # admins always pass

Rules: no or bad token → 401; wrong role, or a hub lead acting on another hub → 403.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import jwt
from flask import g, request

from shared.config import Settings
from shared.problems import Problem
from shared.retry import poll_until

ROLES = ("practitioner", "mentor", "hub_lead", "admin")
ALGORITHMS = ["RS256"]


@dataclass(frozen=True)
class Identity:
    """The verified claims of the caller."""

    user_id: str
    email: str
    name: str
    roles: frozenset[str]
    hub_ids: frozenset[str]
    setting_type: str | None = None

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Identity:
        return cls(
            user_id=str(claims["sub"]),
            email=str(claims.get("email", "")),
            name=str(claims.get("name", "")),
            roles=frozenset(str(r) for r in claims.get("roles") or ()),
            hub_ids=frozenset(str(h) for h in claims.get("hub_ids") or ()),
            setting_type=claims.get("setting_type"),
        )

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def has_role(self, *roles: str) -> bool:
        return self.is_admin or bool(self.roles.intersection(roles))

    def leads_hub(self, hub_id: str | UUID | None) -> bool:
        """Admins lead every hub; a hub lead only theirs."""
        if self.is_admin:
            return True
        return "hub_lead" in self.roles and hub_id is not None and str(hub_id) in self.hub_ids


class TokenVerifier:
    """Verifies tokens against the gateway's JWKS, refetching on an unknown ``kid``."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        jwks: Mapping[str, Any] | None = None,
        leeway: int = 10,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self._static = jwt.PyJWKSet.from_dict(dict(jwks)) if jwks else None
        self._client = (
            jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5)
            if jwks_url and not jwks
            else None
        )
        self._lock = threading.Lock()
        self._last_failure = 0.0

    def _key_for(self, token: str) -> Any:
        header = jwt.get_unverified_header(token)
        if header.get("alg") not in ALGORITHMS:
            raise jwt.InvalidAlgorithmError("only RS256 tokens are accepted")
        kid = header.get("kid")
        if self._static is not None:
            for key in self._static.keys:
                if key.key_id == kid:
                    return key.key
            raise jwt.InvalidKeyError("unknown key id")
        assert self._client is not None
        with self._lock:
            # A failing gateway should not be hammered by every request.
            if time.monotonic() - self._last_failure < 1.0:
                raise jwt.PyJWKClientConnectionError("key set unavailable")
        try:
            return self._client.get_signing_key(kid).key
        except jwt.PyJWKClientConnectionError:
            with self._lock:
                self._last_failure = time.monotonic()
            raise

    def verify(self, token: str) -> Identity:
        key = self._key_for(token)
        claims = jwt.decode(
            token,
            key,
            algorithms=ALGORITHMS,
            audience=self.audience,
            issuer=self.issuer,
            leeway=self.leeway,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
        return Identity.from_claims(claims)

    def warm_up(self, stop_after: float = 120.0) -> None:
        """Fetch the key set before the first request needs it (retrying while the
        gateway starts), so a burst of first requests does not all wait on the gateway
        while the gateway's threads wait on us."""
        client = self._client
        if client is None:
            return

        def fetched() -> bool:
            try:
                client.get_signing_keys()
                return True
            except jwt.PyJWKClientError:
                return False

        poll_until(fetched, stop_after, base=0.1, cap=2.0)


_verifiers: dict[tuple[str, str, str], TokenVerifier] = {}


def warm_up_in_background(settings: Settings) -> None:
    threading.Thread(
        target=verifier_for(settings).warm_up, name="jwks-warm-up", daemon=True
    ).start()


def verifier_for(settings: Settings) -> TokenVerifier:
    """One verifier (and key cache) per process and key set."""
    key = (settings.jwks_url, settings.jwt_issuer, settings.jwt_audience)
    if key not in _verifiers:
        _verifiers[key] = TokenVerifier(
            issuer=settings.jwt_issuer, audience=settings.jwt_audience, jwks_url=settings.jwks_url
        )
    return _verifiers[key]


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        "Authentication required",
        detail,
        kind="unauthenticated",
        headers={"WWW-Authenticate": 'Bearer realm="eyhub"'},
    )


def current_identity(optional: bool = False) -> Identity | None:
    """The caller, verified once per request; 401 unless ``optional``."""
    if "identity" in g:
        if g.identity is None and not optional:  # an optional lookup cached "no token"
            raise _unauthorized("Send a bearer token: Authorization: Bearer <token>.")
        return g.identity
    from shared.web import runtime

    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    identity: Identity | None = None
    if not header:
        if not optional:
            raise _unauthorized("Send a bearer token: Authorization: Bearer <token>.")
    elif scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("The Authorization header must be 'Bearer <token>'.")
    else:
        rt = runtime()
        verifier = rt.extras.get("token_verifier") or verifier_for(rt.settings)
        try:
            identity = verifier.verify(token.strip())
        except jwt.ExpiredSignatureError as exc:
            raise _unauthorized("The token has expired; get a new one.") from exc
        except jwt.PyJWKClientConnectionError as exc:
            raise Problem(503, "Service unavailable", "Cannot fetch signing keys.") from exc
        except (jwt.PyJWTError, ValueError, KeyError) as exc:
            raise _unauthorized("The token is not valid.") from exc
    g.identity = identity
    return identity


def require_identity() -> Identity:
    identity = current_identity()
    assert identity is not None
    return identity


def require_role(*roles: str, hub_id: str | UUID | None = None) -> Identity:
    """The caller, if they hold one of ``roles`` (and lead ``hub_id`` when given); else 401/403.

    Admins pass every check. With ``hub_id``, a ``hub_lead`` must lead that hub; other
    roles named in ``roles`` are not hub-scoped.
    """
    identity = require_identity()
    if identity.is_admin:
        return identity
    allowed = set(roles)
    if not identity.roles.intersection(allowed):
        raise Problem(
            403,
            "Forbidden",
            f"This needs one of the roles: {', '.join(sorted(allowed))}.",
            kind="forbidden",
        )
    only_as_lead = identity.roles & allowed == {"hub_lead"}
    if hub_id is not None and only_as_lead and not identity.leads_hub(hub_id):
        raise Problem(403, "Forbidden", "You do not lead this hub.", kind="forbidden")
    return identity


def issue_token(
    private_key: Any,
    kid: str,
    settings: Settings,
    *,
    user_id: str,
    email: str,
    name: str,
    roles: Iterable[str],
    hub_ids: Iterable[str] = (),
    setting_type: str | None = None,
    ttl: int | None = None,
) -> str:
    """Sign an access token (the gateway's job; tests use it too)."""
    now = int(time.time())
    claims = {
        "sub": user_id,
        "email": email,
        "name": name,
        "roles": sorted(roles),
        "hub_ids": sorted(str(h) for h in hub_ids),
        "setting_type": setting_type,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + (ttl if ttl is not None else settings.token_ttl_seconds),
    }
    return jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": kid})
