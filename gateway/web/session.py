"""Sign-in state of the web pages: the user's API tokens in Flask's signed session cookie.

The cookie (``eyhub_session``) is ``HttpOnly``, ``SameSite=Lax``, and ``Secure`` when the
public URL is https. It holds the access token, the refresh token, when the access token
expires, and the name and roles read from the token (for the header and navigation).
Tokens come from the gateway's own public endpoints (``POST /api/auth/token``,
``/api/auth/refresh``, ``/api/auth/logout``) called over HTTP like any client; an access
token about to expire is traded for a new pair before a page uses it.

The cookie is signed (not encrypted: it holds the user's own tokens, which the user may
see) with a key derived from the gateway's token signing keys (``gateway/keys.py``), so
every gateway process sharing the keys shares sessions; a process verifies cookies
signed with any key it has loaded and signs with the newest it loaded at start, so
restart gateways after ``eyhub keys rotate``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from flask import Flask, session

from gateway.web.client import Api, ApiError
from shared.web import Runtime

#: Refresh this many seconds before the access token expires (clock skew, slow pages).
EARLY_REFRESH = 30
_LABEL = b"eyhub web session cookie v1"
_CLIENT_LABEL = b"eyhub web client address v1"


def _derive(private_key: Any, label: bytes = _LABEL) -> bytes:
    der = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return hmac.new(der, label, hashlib.sha256).digest()


def configure(app: Flask, rt: Runtime) -> None:
    settings = rt.settings
    keyring = rt.extras["keyring"]
    newest = keyring.signing_key
    older = [k for k in keyring.keys if k.kid != newest.kid]  # oldest first
    app.config.update(
        SECRET_KEY=_derive(newest.private_key),
        # Replicas share the signing key, so any of them trusts another's pages.
        EYHUB_WEB_CLIENT_SECRET=_derive(newest.private_key, _CLIENT_LABEL),
        SECRET_KEY_FALLBACKS=[_derive(k.private_key) for k in older],
        SESSION_COOKIE_NAME="eyhub_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=settings.refresh_ttl_seconds,
        # Forms stay valid as long as the session: a childminder may leave a page open.
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked by the web blueprint only (base.py)
        # No Referer check: the kernel sends Referrer-Policy: no-referrer, so browsers send
        # none; the token in the form and the SameSite=Lax cookie are the protection.
        WTF_CSRF_SSL_STRICT=False,
    )


def start(tokens: dict[str, Any]) -> None:
    """Remember a token answer (from /api/auth/token or /api/auth/refresh)."""
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    session.clear()
    session.permanent = True
    session["access_token"] = tokens["access_token"]
    session["refresh_token"] = tokens["refresh_token"]
    session["expires_at"] = int(time.time()) + int(tokens["expires_in"]) - EARLY_REFRESH
    session["user"] = {
        "id": str(claims.get("sub", "")),
        "name": claims.get("name") or claims.get("email") or "",
        "email": claims.get("email", ""),
        "roles": list(claims.get("roles") or []),
        "hub_ids": [str(h) for h in claims.get("hub_ids") or []],
        "email_verified": bool(claims.get("email_verified", True)),
    }


def end() -> None:
    session.clear()


def user() -> dict[str, Any] | None:
    return session.get("user") if "access_token" in session else None


def refresh(api: Api) -> bool:
    """Trade the refresh token for a new pair; False (and signed out) if refused."""
    token = session.get("refresh_token")
    if not token:
        return False
    try:
        answer = api.post("/api/auth/refresh", json={"refresh_token": token})
    except ApiError:
        end()
        return False
    start(answer)
    return True


def access_token(api: Api) -> str | None:
    """The access token to call the API with, refreshed first when it is about to expire;
    None when signed out (or the refresh was refused)."""
    if "access_token" not in session:
        return None
    if time.time() >= session.get("expires_at", 0) and not refresh(api):
        return None
    return session.get("access_token")
