"""Token signing keys: RS256, rotated by adding a key, published as a JWKS.

Where keys come from:

- ``EYHUB_JWT_PRIVATE_KEY`` (production: every gateway replica signs with the same key);
- otherwise ``$EYHUB_DATA_DIR/keys/*.pem``: generated on first start. Several gunicorn
  workers start at once, so generation happens under an exclusive file lock and the file
  appears by atomic rename (mode 0600): every worker ends up with the same key.

Rotation: add a newer ``.pem`` (``eyhub keys rotate``). Files are named
``<UTC timestamp>-<kid>.pem``; the newest signs, every one is published in the JWKS so
tokens signed by an older key stay valid until they expire. Delete an old file once the
tokens it signed have expired (``EYHUB_TOKEN_TTL_SECONDS``).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth import Identity, TokenVerifier
from shared.config import Settings

KEY_BITS = 2048
RESCAN_SECONDS = 5.0
VERIFIED_CACHE_SIZE = 10_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(public_key: rsa.RSAPublicKey) -> dict[str, Any]:
    return json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public_key))


def thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint: a kid that is the same wherever the key is loaded."""
    jwk = public_jwk(public_key)
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    return _b64(hashlib.sha256(canonical.encode()).digest())


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("token signing keys must be RSA private keys")
        return cls(kid=thumbprint(key.public_key()), private_key=key)

    def jwk(self) -> dict[str, Any]:
        return {
            **public_jwk(self.private_key.public_key()),
            "kid": self.kid,
            "alg": "RS256",
            "use": "sig",
        }


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@contextlib.contextmanager
def _locked(keys_dir: Path) -> Iterator[None]:
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(keys_dir / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_new_key(keys_dir: Path) -> Path:
    """Generate a key and make it appear atomically, readable by the owner only."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    kid = thumbprint(key.public_key())
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")  # names sort oldest → newest
    final = keys_dir / f"{stamp}-{kid}.pem"
    tmp = keys_dir / f".{kid}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(_pem(key))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    return final


def ensure_key(keys_dir: Path) -> None:
    """At least one key exists in ``keys_dir`` (safe to call from many processes at once)."""
    with _locked(keys_dir):
        if not any(keys_dir.glob("*.pem")):
            _write_new_key(keys_dir)


def rotate(keys_dir: Path) -> Path:
    """Add a new signing key; the old ones stay published for verification."""
    with _locked(keys_dir):
        return _write_new_key(keys_dir)


class KeyRing:
    """The gateway's keys: one signs, all are published; picks up rotations on the fly."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys_dir = settings.keys_dir
        self._lock = threading.Lock()
        self._checked = 0.0
        self._stamp: tuple[Any, ...] = ()
        self._keys: list[SigningKey] = []
        self._verifier: TokenVerifier | None = None
        self._cache = {}
        if not settings.jwt_private_key:
            ensure_key(self.keys_dir)
        self._load()

    def _dir_stamp(self) -> tuple[Any, ...]:
        if not self.keys_dir.is_dir():
            return ()
        return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in self.keys_dir.glob("*.pem")))

    def _load(self) -> None:
        stamp = self._dir_stamp()
        files = sorted(self.keys_dir.glob("*.pem")) if stamp else []
        keys = [SigningKey.from_pem(p.read_bytes()) for p in files]  # oldest first
        if self.settings.jwt_private_key:
            env_key = SigningKey.from_pem(self.settings.jwt_private_key.encode())
            keys = [k for k in keys if k.kid != env_key.kid] + [env_key]
        if not keys:
            raise RuntimeError(f"no token signing key (EYHUB_JWT_PRIVATE_KEY or {self.keys_dir})")
        self._keys = keys
        self._stamp = stamp
        self._cache: dict[str, tuple[Identity, float]] = {}
        self._verifier = TokenVerifier(
            issuer=self.settings.jwt_issuer,
            audience=self.settings.jwt_audience,
            jwks=self.jwks(),
        )
        self._checked = time.monotonic()

    def _refresh(self) -> None:
        if time.monotonic() - self._checked < RESCAN_SECONDS:
            return
        with self._lock:
            if time.monotonic() - self._checked < RESCAN_SECONDS:
                return
            if self._dir_stamp() != self._stamp:
                self._load()
            self._checked = time.monotonic()

    @property
    def keys(self) -> list[SigningKey]:
        """Every key still trusted, oldest first (the newest signs)."""
        self._refresh()
        return list(self._keys)

    @property
    def signing_key(self) -> SigningKey:
        self._refresh()
        return self._keys[-1]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in reversed(self._keys)]}

    def current_jwks(self) -> dict[str, Any]:
        self._refresh()
        return self.jwks()

    def sign(self, claims: dict[str, Any]) -> str:
        """A token for another purpose than access (e.g. confirming an email address):
        its ``aud`` must differ from the access audience, so no service accepts it."""
        key = self.signing_key
        return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})

    def decode(self, token: str, *, audience: str) -> dict[str, Any]:
        """The claims of a token ``sign`` made for ``audience``; PyJWTError otherwise."""
        self._refresh()
        kid = jwt.get_unverified_header(token).get("kid")
        key = next((k for k in self._keys if k.kid == kid), None)
        if key is None:
            raise jwt.InvalidKeyError("unknown key id")
        claims: dict[str, Any] = jwt.decode(
            token,
            key.private_key.public_key(),
            algorithms=["RS256"],
            audience=audience,
            issuer=self.settings.jwt_issuer,
            options={"require": ["exp", "sub", "aud", "iss"]},
        )
        return claims

    # shared.auth.current_identity calls .verify on runtime().extras["token_verifier"]
    def verify(self, token: str) -> Identity:
        """Verify with the local keys: the gateway never fetches its own JWKS over HTTP.

        Every proxied call is verified (for the per-user rate limit), so good tokens are
        remembered until they expire: a token's validity cannot change while the keys
        that signed it stay (the cache is dropped whenever the key set changes).
        """
        self._refresh()
        verifier, cache = self._verifier, self._cache
        assert verifier is not None
        hit = cache.get(token)
        now = time.time()
        if hit is not None and hit[1] > now:
            return hit[0]
        identity = verifier.verify(token)
        claims = jwt.decode(token, options={"verify_signature": False})
        if len(cache) >= VERIFIED_CACHE_SIZE:
            cache.clear()
        cache[token] = (identity, float(claims["exp"]))
        return identity
