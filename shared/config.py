"""Configuration, from the environment only (docs/architecture.md, "Backends").

One frozen ``Settings`` object is built per process; nothing reads ``os.environ``
elsewhere, so a test can run a component against any set of values.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

SERVICES: tuple[str, ...] = ("catalogue", "bookings", "mentoring", "budget")
COMPONENTS: tuple[str, ...] = ("gateway", *SERVICES)
PORT_OFFSETS: dict[str, int] = {name: i for i, name in enumerate(COMPONENTS)}
#: The local Stripe stand-in (shared/stripe_local) listens after the components.
STRIPE_LOCAL_OFFSET = len(COMPONENTS)
#: The API key the product uses with the local stand-in (any ``sk_test_`` key works there).
STRIPE_LOCAL_KEY = "sk_test_eyhub_local"
#: argon2 cost of password hashes: ``default`` is the RFC 9106 low-memory profile;
#: ``fast`` is for test suites, where hundreds of logins would otherwise cost minutes.
PASSWORD_HASH_PROFILES: tuple[str, ...] = ("default", "fast")

#: Every variable the platform reads, with its meaning; deploy/ is checked against this.
ENV_VARS: dict[str, str] = {
    "EYHUB_DATA_DIR": "SQLite files, broker/, mail/, keys/",
    "EYHUB_PORT_BASE": "gateway = base, catalogue +1, bookings +2, mentoring +3, budget +4",
    **{f"EYHUB_{c.upper()}_DATABASE_URL": f"database of {c}" for c in COMPONENTS},
    **{f"EYHUB_{s.upper()}_URL": f"where the gateway reaches {s}" for s in SERVICES},
    "EYHUB_BROKER_URL": "kombu broker URL; default filesystem:// under $EYHUB_DATA_DIR/broker",
    "EYHUB_BUS_NAMESPACE": "prefix for exchange and queue names (shared brokers, tests)",
    "EYHUB_BUS_MAX_ATTEMPTS": "attempts of a bus handler before its message goes to dead letters",
    "EYHUB_BUS_RETRY_BASE_SECONDS": "first retry delay of a failed handler (doubles each attempt)",
    "EYHUB_BUS_RETRY_MAX_SECONDS": "longest delay between two attempts of a failed handler",
    "EYHUB_BUS_POLL_SECONDS": "how often the outbox relay and the embedded broker look for work",
    "EYHUB_BUS_RETENTION_DAYS": "days sent outbox rows and inbox ids are kept (redelivery window)",
    "EYHUB_SMTP_URL": "smtp://user:pass@host:587?starttls=true; unset writes .eml files",
    "EYHUB_MAIL_FROM": "sender address of platform mail",
    "EYHUB_PUBLIC_URL": "public base URL used in links, feed URLs and ICS UIDs",
    "EYHUB_GATEWAY_URL": "where services reach the gateway (JWKS); default 127.0.0.1:$PORT_BASE",
    "EYHUB_JWKS_URL": "where services fetch the token signing keys",
    "EYHUB_JWT_ISSUER": "iss claim of tokens (default: EYHUB_PUBLIC_URL)",
    "EYHUB_JWT_AUDIENCE": "aud claim of tokens (default: eyhub)",
    "EYHUB_TOKEN_TTL_SECONDS": "lifetime of access tokens (default 900: 15 minutes)",
    "EYHUB_TOKEN_MAX_LIFETIME_SECONDS": "services refuse tokens valid longer than this (exp - iat)",
    "EYHUB_REFRESH_TTL_SECONDS": "lifetime of a refresh token (single use, rotated)",
    "EYHUB_ADMIN_EMAIL": "bootstrap admin, created at start if missing",
    "EYHUB_ADMIN_PASSWORD": "bootstrap admin password",
    "EYHUB_PASSWORD_HASH_PROFILE": "argon2 cost: default (RFC 9106 low-memory), fast (tests only)",
    "EYHUB_REDIS_URL": "rate-limit storage shared by gateway replicas",
    "EYHUB_LOG_LEVEL": "DEBUG, INFO, WARNING...",
    "EYHUB_WEB_WORKERS": "gunicorn worker processes per service",
    "EYHUB_WEB_THREADS": "gunicorn threads per worker",
    "EYHUB_LOCK_TIMEOUT_SECONDS": "seconds a write waits for a database lock, then 503 (default 5)",
    "EYHUB_MAX_BODY_BYTES": "largest accepted request body",
    "EYHUB_AUTO_MIGRATE": "apply migrations when a process starts (default: on for SQLite)",
    "EYHUB_JWT_PRIVATE_KEY": "PEM private key for tokens (production); else generated in keys/",
    "EYHUB_CORS_ORIGINS": "comma-separated origins allowed by CORS; empty = closed",
    "EYHUB_RATE_LIMIT_LOGIN": "failed logins allowed per (client IP, email), e.g. 10/minute",
    "EYHUB_RATE_LIMIT_LOGIN_IP": "failed logins per client IP, whatever the email (spraying)",
    "EYHUB_RATE_LIMIT_LOGIN_ACCOUNT": "failed logins per email from all IPs: a longer back-off",
    "EYHUB_RATE_LIMIT_REGISTER": "registrations allowed per client IP, e.g. 20/hour",
    "EYHUB_RATE_LIMIT_API": "API requests per user (or per IP when anonymous), e.g. 1200/minute",
    "EYHUB_TRUSTED_PROXY_HOPS": "proxies in front of the gateway whose X-Forwarded-* are trusted",
    "EYHUB_UPSTREAM_CONNECT_TIMEOUT": "seconds the gateway waits to connect to a service",
    "EYHUB_UPSTREAM_READ_TIMEOUT": "seconds the gateway waits for a service's response",
    "EYHUB_BREAKER_FAIL_MAX": "consecutive failures that open a service's circuit breaker",
    "EYHUB_BREAKER_RESET_SECONDS": "seconds an open circuit waits before trying the service again",
    "EYHUB_METRICS_TOKEN": "bearer token /metrics requires on every component; unset: not served",
    "EYHUB_MATCH_WEIGHT_TOPIC": "mentor matching: points per request topic the mentor covers",
    "EYHUB_MATCH_WEIGHT_SETTING_TYPE": "mentor matching: points when the mentor knows the setting",
    "EYHUB_MATCH_WEIGHT_LANGUAGE": "mentor matching: points for a shared language",
    "EYHUB_MATCH_WEIGHT_REGION": "mentor matching: points when mentor and request share a region",
    "EYHUB_MATCH_WEIGHT_LOAD_BALANCE": "mentor matching: points lost per mentee the mentor has",
    "STRIPE_API_KEY": "Stripe secret key (sk_test_/sk_live_); unset: the local stand-in is used",
    "STRIPE_WEBHOOK_SECRET": "whsec_ secret of the Stripe webhook endpoint; unset: keys/ file",
    "EYHUB_STRIPE_API_BASE": "Stripe API base URL; default api.stripe.com, or the stand-in",
    "EYHUB_PAYMENT_HOLD_SECONDS": "how long a place is held for card payment (default 1800)",
    "EYHUB_OFFER_SECONDS": "how long a paid session's waiting-list offer lasts (default 86400)",
}


class ConfigError(ValueError):
    """A variable has a value the platform cannot use; the message names it."""


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def password_hash_profile(env: Mapping[str, str] | None = None) -> str:
    """EYHUB_PASSWORD_HASH_PROFILE on its own: the gateway picks its hasher at import,
    before any ``Settings`` exists."""
    env = os.environ if env is None else env
    profile = (env.get("EYHUB_PASSWORD_HASH_PROFILE") or "default").strip().lower()
    if profile not in PASSWORD_HASH_PROFILES:
        raise ConfigError(
            f"EYHUB_PASSWORD_HASH_PROFILE must be one of {', '.join(PASSWORD_HASH_PROFILES)}, "
            f"got {profile!r}"
        )
    return profile


#: Shortest EYHUB_METRICS_TOKEN accepted: a guessable token would reopen /metrics.
METRICS_TOKEN_MIN_LENGTH = 16


def metrics_token(env: Mapping[str, str]) -> str | None:
    """EYHUB_METRICS_TOKEN, refused at start when too short to be a secret."""
    token = (env.get("EYHUB_METRICS_TOKEN") or "").strip()
    if not token:
        return None
    if len(token) < METRICS_TOKEN_MIN_LENGTH:
        raise ConfigError(
            f"EYHUB_METRICS_TOKEN must be at least {METRICS_TOKEN_MIN_LENGTH} characters "
            "(e.g. `openssl rand -hex 32`)"
        )
    return token


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _weight(env: Mapping[str, str], name: str, default: int) -> int:
    """A matching weight: a whole number of points, not negative."""
    value = _int(env, name, default)
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    """What a process needs to know about where everything is."""

    data_dir: Path
    port_base: int = 8080
    broker_url: str = "filesystem://"
    bus_namespace: str = ""
    bus_max_attempts: int = 5
    bus_retry_base_seconds: float = 1.0
    bus_retry_max_seconds: float = 300.0
    bus_poll_seconds: float = 0.05
    bus_retention_days: float = 14.0
    smtp_url: str | None = None
    mail_from: str = "eyhub <no-reply@example.org>"
    public_url: str = "http://127.0.0.1:8080"
    admin_email: str = "admin@example.org"
    admin_password: str = "admin-password"
    password_hash_profile: str = "default"
    redis_url: str | None = None
    log_level: str = "INFO"
    web_workers: int = 1
    web_threads: int = 8
    #: seconds a write waits for a database lock before giving up (shared/db.py)
    lock_timeout_seconds: float = 5.0
    max_body_bytes: int = 1_000_000
    cors_origins: tuple[str, ...] = ()
    jwt_private_key: str | None = None
    auto_migrate: bool | None = None
    gateway_url: str = "http://127.0.0.1:8080"
    jwks_url: str = "http://127.0.0.1:8080/.well-known/jwks.json"
    jwt_issuer: str = "http://127.0.0.1:8080"
    jwt_audience: str = "eyhub"
    token_ttl_seconds: int = 900
    token_max_lifetime_seconds: int = 3600
    refresh_ttl_seconds: int = 30 * 24 * 3600
    rate_limit_login: str = "10/minute"
    #: Failed logins from one IP across every email: password spraying (one common
    #: password tried on many accounts) never hits the per-(IP, email) limit above.
    rate_limit_login_ip: str = "30/10 minutes"
    #: Failed logins for one email from every IP: a longer back-off for an account
    #: attacked from many addresses. Larger than the per-(IP, email) limit, so an
    #: attacker on one IP throttles only that IP, not the owner elsewhere; it expires.
    rate_limit_login_account: str = "50/hour"
    rate_limit_register: str = "20/hour"
    rate_limit_api: str = "1200/minute"
    trusted_proxy_hops: int = 0
    upstream_connect_timeout: float = 3.0
    upstream_read_timeout: float = 30.0
    breaker_fail_max: int = 5
    breaker_reset_seconds: float = 15.0
    #: What Prometheus sends as ``Authorization: Bearer <token>`` to scrape /metrics;
    #: None: /metrics is not served (the gateway's port is public, see shared/health.py).
    metrics_token: str | None = None
    #: Mentor matching weights (services/mentoring, README "Mentoring"): points per term.
    match_weight_topic: int = 10
    match_weight_setting_type: int = 6
    match_weight_language: int = 4
    match_weight_region: int = 5
    match_weight_load_balance: int = 1
    #: Stripe (services/bookings/stripe_client.py); no key: the local stand-in
    #: (shared/stripe_local) at ``stripe_api_base``, started by ``eyhub up``.
    stripe_api_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str = ""
    payment_hold_seconds: int = 1800
    offer_seconds: int = 86400
    database_urls: Mapping[str, str] = field(default_factory=dict)
    service_urls: Mapping[str, str] = field(default_factory=dict)

    # -- derived ---------------------------------------------------------------
    def port(self, component: str) -> int:
        return self.port_base + PORT_OFFSETS[component]

    def database_url(self, component: str) -> str:
        if component in self.database_urls:
            return self.database_urls[component]
        return f"sqlite:///{self.data_dir / (component + '.db')}"

    def service_url(self, component: str) -> str:
        """Base URL the gateway (and read-through fallbacks) use to reach a component."""
        return self.service_urls.get(component) or f"http://127.0.0.1:{self.port(component)}"

    @property
    def broker_dir(self) -> Path:
        return self.data_dir / "broker"

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url.startswith(("filesystem:", "memory:"))

    def should_migrate_at_start(self, component: str) -> bool:
        if self.auto_migrate is not None:
            return self.auto_migrate
        return self.database_url(component).startswith("sqlite")

    @property
    def stripe_local(self) -> bool:
        """No Stripe key: payments go to the local stand-in (embedded mode, tests)."""
        return self.stripe_api_key is None

    @property
    def stripe_key(self) -> str:
        return self.stripe_api_key or STRIPE_LOCAL_KEY

    def webhook_secret(self) -> str:
        """``STRIPE_WEBHOOK_SECRET``, or (stand-in) one generated once in keys/.

        The stand-in and the bookings service read the same file, so a fresh data folder
        needs no set-up; O_EXCL makes the first writer win when processes start at once.
        """
        if self.stripe_webhook_secret:
            return self.stripe_webhook_secret
        path = self.keys_dir / "stripe-webhook-secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                fd = None  # another process won the race: its secret is read below
            if fd is not None:
                with os.fdopen(fd, "w") as f:
                    f.write("whsec_" + secrets.token_hex(24))
        for _ in range(50):  # the winner may not have written it yet
            value = path.read_text().strip()
            if value:
                return value
            time.sleep(0.01)
        raise ConfigError(f"{path} is empty")

    @property
    def public_host(self) -> str:
        return urlsplit(self.public_url).hostname or "localhost"


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read every EYHUB_* variable once; fail early with the variable's name."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("EYHUB_DATA_DIR") or "./var").expanduser().resolve()
    port_base = _int(env, "EYHUB_PORT_BASE", 8080)
    if not 1 <= port_base <= 65530:
        raise ConfigError(f"EYHUB_PORT_BASE must be a port number, got {port_base}")
    auto = env.get("EYHUB_AUTO_MIGRATE")
    public_url = (env.get("EYHUB_PUBLIC_URL") or f"http://127.0.0.1:{port_base}").rstrip("/")
    gateway_url = (env.get("EYHUB_GATEWAY_URL") or f"http://127.0.0.1:{port_base}").rstrip("/")
    return Settings(
        data_dir=data_dir,
        port_base=port_base,
        broker_url=env.get("EYHUB_BROKER_URL") or "filesystem://",
        bus_namespace=env.get("EYHUB_BUS_NAMESPACE", ""),
        bus_max_attempts=max(1, _int(env, "EYHUB_BUS_MAX_ATTEMPTS", 5)),
        bus_retry_base_seconds=_float(env, "EYHUB_BUS_RETRY_BASE_SECONDS", 1.0),
        bus_retry_max_seconds=_float(env, "EYHUB_BUS_RETRY_MAX_SECONDS", 300.0),
        bus_poll_seconds=_float(env, "EYHUB_BUS_POLL_SECONDS", 0.05),
        bus_retention_days=_float(env, "EYHUB_BUS_RETENTION_DAYS", 14.0),
        smtp_url=env.get("EYHUB_SMTP_URL") or None,
        mail_from=env.get("EYHUB_MAIL_FROM") or "eyhub <no-reply@example.org>",
        public_url=public_url,
        gateway_url=gateway_url,
        jwks_url=env.get("EYHUB_JWKS_URL") or f"{gateway_url}/.well-known/jwks.json",
        jwt_issuer=env.get("EYHUB_JWT_ISSUER") or public_url,
        jwt_audience=env.get("EYHUB_JWT_AUDIENCE") or "eyhub",
        token_ttl_seconds=_int(env, "EYHUB_TOKEN_TTL_SECONDS", 900),
        token_max_lifetime_seconds=_int(env, "EYHUB_TOKEN_MAX_LIFETIME_SECONDS", 3600),
        refresh_ttl_seconds=_int(env, "EYHUB_REFRESH_TTL_SECONDS", 30 * 24 * 3600),
        admin_email=env.get("EYHUB_ADMIN_EMAIL") or "admin@example.org",
        admin_password=env.get("EYHUB_ADMIN_PASSWORD") or "admin-password",
        password_hash_profile=password_hash_profile(env),
        redis_url=env.get("EYHUB_REDIS_URL") or None,
        log_level=(env.get("EYHUB_LOG_LEVEL") or "INFO").upper(),
        web_workers=_int(env, "EYHUB_WEB_WORKERS", 1),
        web_threads=_int(env, "EYHUB_WEB_THREADS", 8),
        lock_timeout_seconds=_float(env, "EYHUB_LOCK_TIMEOUT_SECONDS", 5.0),
        max_body_bytes=_int(env, "EYHUB_MAX_BODY_BYTES", 1_000_000),
        cors_origins=tuple(
            o.strip() for o in (env.get("EYHUB_CORS_ORIGINS") or "").split(",") if o.strip()
        ),
        jwt_private_key=env.get("EYHUB_JWT_PRIVATE_KEY") or None,
        auto_migrate=None if auto in (None, "") else auto.lower() in ("1", "true", "yes", "on"),
        rate_limit_login=env.get("EYHUB_RATE_LIMIT_LOGIN") or "10/minute",
        rate_limit_login_ip=env.get("EYHUB_RATE_LIMIT_LOGIN_IP") or "30/10 minutes",
        rate_limit_login_account=env.get("EYHUB_RATE_LIMIT_LOGIN_ACCOUNT") or "50/hour",
        rate_limit_register=env.get("EYHUB_RATE_LIMIT_REGISTER") or "20/hour",
        rate_limit_api=env.get("EYHUB_RATE_LIMIT_API") or "1200/minute",
        trusted_proxy_hops=_int(env, "EYHUB_TRUSTED_PROXY_HOPS", 0),
        upstream_connect_timeout=_float(env, "EYHUB_UPSTREAM_CONNECT_TIMEOUT", 3.0),
        upstream_read_timeout=_float(env, "EYHUB_UPSTREAM_READ_TIMEOUT", 30.0),
        breaker_fail_max=_int(env, "EYHUB_BREAKER_FAIL_MAX", 5),
        breaker_reset_seconds=_float(env, "EYHUB_BREAKER_RESET_SECONDS", 15.0),
        metrics_token=metrics_token(env),
        match_weight_topic=_weight(env, "EYHUB_MATCH_WEIGHT_TOPIC", 10),
        match_weight_setting_type=_weight(env, "EYHUB_MATCH_WEIGHT_SETTING_TYPE", 6),
        match_weight_language=_weight(env, "EYHUB_MATCH_WEIGHT_LANGUAGE", 4),
        match_weight_region=_weight(env, "EYHUB_MATCH_WEIGHT_REGION", 5),
        match_weight_load_balance=_weight(env, "EYHUB_MATCH_WEIGHT_LOAD_BALANCE", 1),
        stripe_api_key=env.get("STRIPE_API_KEY") or None,
        stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET") or None,
        stripe_api_base=(
            env.get("EYHUB_STRIPE_API_BASE")
            or (
                "https://api.stripe.com"
                if env.get("STRIPE_API_KEY")
                else f"http://127.0.0.1:{port_base + STRIPE_LOCAL_OFFSET}"
            )
        ).rstrip("/"),
        payment_hold_seconds=_int(env, "EYHUB_PAYMENT_HOLD_SECONDS", 1800),
        offer_seconds=_int(env, "EYHUB_OFFER_SECONDS", 86400),
        database_urls={
            c: env[f"EYHUB_{c.upper()}_DATABASE_URL"]
            for c in COMPONENTS
            if env.get(f"EYHUB_{c.upper()}_DATABASE_URL")
        },
        service_urls={
            s: env[f"EYHUB_{s.upper()}_URL"].rstrip("/")
            for s in SERVICES
            if env.get(f"EYHUB_{s.upper()}_URL")
        },
    )
