"""Who is calling, and may they: token verification and authorization for every service.

The gateway issues RS256 JWTs and publishes its public keys as a JWKS; each service
verifies the bearer token itself (the gateway forwards it unchanged), so a request
that bypasses the gateway is no more trusted than one that goes through it.

In a view, one line says who may act::

    who = require_role("hub_lead", hub_id=event.hub_id)   # admins always pass

Every view that needs a token also carries ``@requires(...)`` (under ``@blp.route``,
above ``@blp.arguments``), so the answers come in the order 401 → 403 → 422.

Rules: no or bad token → 401; wrong role, or a hub lead acting on another hub → 403.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import jwt
from flask import g, request

from shared.config import Settings
from shared.identity import check_token
from shared.problems import Problem, unauthorized
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
    #: ``iat`` and ``exp`` (epoch seconds): checked against the identity replica and the
    #: longest lifetime a component accepts.
    issued_at: float | None = None
    expires_at: float | None = None
    #: False for a self-registered account that has not confirmed its address yet.
    email_verified: bool = True

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Identity:
        return cls(
            user_id=str(claims["sub"]),
            email=str(claims.get("email", "")),
            name=str(claims.get("name", "")),
            roles=frozenset(str(r) for r in claims.get("roles") or ()),
            hub_ids=frozenset(str(h) for h in claims.get("hub_ids") or ()),
            setting_type=claims.get("setting_type"),
            issued_at=float(claims["iat"]) if "iat" in claims else None,
            expires_at=float(claims["exp"]) if "exp" in claims else None,
            email_verified=claims.get("email_verified", True) is not False,
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


def current_identity(optional: bool = False) -> Identity | None:
    """The caller, verified once per request; 401 unless ``optional``."""
    if "identity" in g:
        if g.identity is None and not optional:  # an optional lookup cached "no token"
            raise unauthorized("Send a bearer token: Authorization: Bearer <token>.")
        return g.identity
    from shared.web import runtime

    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    identity: Identity | None = None
    if not header:
        if not optional:
            raise unauthorized("Send a bearer token: Authorization: Bearer <token>.")
    elif scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("The Authorization header must be 'Bearer <token>'.")
    else:
        rt = runtime()
        verifier = rt.extras.get("token_verifier") or verifier_for(rt.settings)
        try:
            identity = verifier.verify(token.strip())
        except jwt.ExpiredSignatureError as exc:
            raise unauthorized("The token has expired; get a new one.") from exc
        except jwt.PyJWKClientConnectionError as exc:
            raise Problem(503, "Service unavailable", "Cannot fetch signing keys.") from exc
        except (jwt.PyJWTError, ValueError, KeyError) as exc:
            raise unauthorized("The token is not valid.") from exc
        _check_current(rt.settings, rt.db, identity)
    g.identity = identity
    return identity


def _check_current(settings: Settings, db: Any, identity: Identity) -> None:
    """A valid signature is not enough: the token's lifetime must be within the maximum,
    and the account must still back it (``shared.identity``: deactivation, sign-out,
    rights taken away end access before the token expires)."""
    if identity.issued_at is None or identity.expires_at is None:
        raise unauthorized("The token is not valid.")
    if identity.expires_at - identity.issued_at > settings.token_max_lifetime_seconds:
        raise unauthorized("The token's lifetime is longer than this platform accepts.")
    check_token(db, identity)


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


View = TypeVar("View", bound=Callable[..., Any])

#: Attribute ``requires`` sets on a view: the roles it needs (empty: any signed-in
#: caller). Tests walk the url map for it (tests/unit/test_check_order.py).
REQUIRES_ATTR = "eyhub_requires_roles"


def requires(*roles: str) -> Callable[[View], View]:
    """Check the token (401) and, with ``roles``, the role (403) before the view runs.

    Goes under ``@blp.route`` and above ``@blp.arguments`` (on a MethodView method:
    above ``@blp.arguments``). flask-smorest parses and validates the arguments in the
    wrapper ``@blp.arguments`` adds, before the view body; a ``require_role`` in the
    body came after that, so a caller without a token, or with the wrong role, was told
    the schema in a 422's field errors. Checks that need the body (a hub lead's hub id)
    stay in the view, after validation; the identity is cached for the request, so the
    view's own ``require_identity()`` costs nothing more.

    ``functools.wraps`` copies ``_apidoc`` (what flask-smorest's decorators collected),
    so the OpenAPI document is the same with or without this decorator.
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if roles:
                require_role(*roles)
            else:
                require_identity()
            return view(*args, **kwargs)

        setattr(checked, REQUIRES_ATTR, frozenset(roles))
        return checked  # type: ignore[return-value]

    return decorate


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
    email_verified: bool = True,
) -> str:
    """Sign an access token (the gateway's job; tests use it too).

    ``iat`` has millisecond precision (RFC 7519 NumericDate allows fractions), so a token
    issued just after a sign-out or deactivation in the same second is told apart from
    one issued just before (``shared.identity.check_token``).
    """
    now = round(time.time(), 3)
    claims = {
        "sub": user_id,
        "email": email,
        "name": name,
        "roles": sorted(roles),
        "hub_ids": sorted(str(h) for h in hub_ids),
        "setting_type": setting_type,
        "email_verified": email_verified,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": int(now) + (ttl if ttl is not None else settings.token_ttl_seconds),
    }
    return jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": kid})
