"""The gateway's app factory: identity, the proxy, rate limits, merged OpenAPI, /docs."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway import MIGRATIONS, api, headers, limits, openapi, operations, proxy, web
from gateway.hubs import HubDirectory
from gateway.keys import KeyRing
from gateway.readiness import keys_check, services_check
from shared.config import Settings, load_settings
from shared.health import add_deep_check
from shared.web import Runtime, create_component_app


def _configure(app: Flask, rt: Runtime) -> None:
    settings = rt.settings
    if settings.trusted_proxy_hops > 0:
        n = settings.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    keyring = KeyRing(settings)
    rt.extras["keyring"] = keyring
    rt.extras["token_verifier"] = keyring  # verify with local keys, not HTTP to ourselves
    rt.readiness_checks.append(("keys", keys_check(keyring)))

    smorest = rt.extras["api"]
    smorest.spec.components.security_scheme("bearerAuth", openapi.BEARER_SCHEME)
    limiter = limits.build_limiter(app, settings)
    rt.extras["limiter"] = limiter
    for bp in api.blueprints(limiter):
        smorest.register_blueprint(bp)

    upstreams = proxy.Proxy(settings)
    rt.extras["proxy"] = upstreams
    rt.extras["hubs"] = HubDirectory(settings, upstreams.session)
    proxy.install(app, upstreams)
    # Not in /readyz: one service down must not take the gateway out of a load
    # balancer (gateway/readiness.py); /readyz?deep=1 shows each service.
    add_deep_check(rt, "services", services_check(settings, upstreams))
    openapi.install(app, openapi.SpecCache(settings, upstreams.session))
    headers.install(app, settings)
    web.install(app, rt)  # the web pages (gateway/web): GOV.UK Frontend, CSRF, /assets

    operations.ensure_admin(rt.db, settings)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    return create_component_app(
        "gateway",
        migrations=MIGRATIONS,
        title="eyhub",
        description="The public API of eyhub: identity and every service under /api/.",
        settings=settings,
        configure=_configure,
    )
