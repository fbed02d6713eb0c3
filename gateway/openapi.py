"""One OpenAPI document for the whole platform, and Swagger UI to read it.

The gateway's own paths plus every service's ``/openapi.json`` (fetched from the
service, cached briefly). Services already document public paths (see
``gateway.proxy``), so paths are taken as they are — only those the route table
actually forwards. Component names are prefixed with the service (``catalogue.Session``)
and every ``$ref`` rewritten, so two services may both have a ``Session`` schema. A
service that is down is left out with a note in ``info.description`` and in
``x-eyhub-unavailable``, rather than failing the whole document.

``/docs`` is Swagger UI served from the pinned ``swagger-ui-bundle`` package (no CDN),
under a strict Content-Security-Policy (no inline script: the initialiser is a file).
"""

from __future__ import annotations

import copy
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
import urllib3
from flask import Flask, Response, abort, jsonify, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from gateway.proxy import UpstreamSession, route_for
from shared.config import SERVICES, Settings
from shared.web import runtime

CACHE_SECONDS = 30.0
FAILED_CACHE_SECONDS = 5.0
DOCS_FILES = frozenset(
    {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "favicon-32x32.png",
        "favicon-16x16.png",
    }
)
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "A token from POST /api/auth/token.",
}


def _rewrite_refs(node: Any, service: str) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/"):
                _, _, kind, name = value.split("/", 3)
                out[key] = f"#/components/{kind}/{service}.{name}"
            else:
                out[key] = _rewrite_refs(value, service)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, service) for v in node]
    return node


def merge(own: dict[str, Any], services: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    """Pure function of the documents: the gateway's spec plus each service's (None = down)."""
    doc = copy.deepcopy(own)
    paths = doc.setdefault("paths", {})
    components = doc.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearerAuth"] = BEARER_SCHEME
    tags = {t["name"]: t for t in doc.get("tags", [])}
    missing = []
    for service, spec in services.items():
        if spec is None:
            missing.append(service)
            continue
        spec = _rewrite_refs(spec, service)
        for path, item in spec.get("paths", {}).items():
            if route_for(path) == service:
                paths[path] = item
        for kind, entries in spec.get("components", {}).items():
            if kind == "securitySchemes":  # referenced by bare name, not $ref
                for name, scheme in entries.items():
                    components["securitySchemes"].setdefault(name, scheme)
                continue
            target = components.setdefault(kind, {})
            for name, value in entries.items():
                target[f"{service}.{name}"] = value
        for tag in spec.get("tags", []):
            tags.setdefault(tag["name"], tag)
    doc["tags"] = list(tags.values())
    info = doc.setdefault("info", {})
    if missing:
        info["description"] = (
            info.get("description", "")
            + "\n\nNot included (service unavailable just now): "
            + ", ".join(missing)
            + "."
        )
        doc["x-eyhub-unavailable"] = missing
    return doc


class SpecCache:
    """Each service's document, refetched at most every CACHE_SECONDS (failures sooner).

    Fetched over the proxy's pooled connections; nothing here runs per proxied call.
    """

    def __init__(self, settings: Settings, session: UpstreamSession) -> None:
        self.settings = settings
        self.session = session
        self.timeout = urllib3.Timeout(connect=settings.upstream_connect_timeout, read=5)
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, dict[str, Any] | None]] = {}

    def _fetch(self, service: str) -> tuple[str, dict[str, Any] | None]:
        url = f"{self.settings.service_url(service)}/openapi.json"
        try:
            spec = self.session.get_json(url, self.timeout)
            return service, spec if isinstance(spec, dict) else None
        except (requests.RequestException, ValueError):
            return service, None

    def get(self) -> dict[str, dict[str, Any] | None]:
        now = time.monotonic()
        with self._lock:
            stale = [
                s
                for s in SERVICES
                if s not in self._entries
                or now - self._entries[s][0]
                > (CACHE_SECONDS if self._entries[s][1] is not None else FAILED_CACHE_SECONDS)
            ]
        if stale:
            with ThreadPoolExecutor(len(stale)) as pool:
                fetched = dict(pool.map(self._fetch, stale))
            with self._lock:
                for service, spec in fetched.items():
                    self._entries[service] = (time.monotonic(), spec)
        with self._lock:
            return {s: self._entries[s][1] for s in SERVICES}


_DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>eyhub API</title>
  <link rel="stylesheet" href="/docs/static/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/static/swagger-ui-bundle.js"></script>
  <script src="/docs/static/swagger-ui-standalone-preset.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"""

_DOCS_INIT = """window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout"
  });
};
"""


def install(app: Flask, cache: SpecCache) -> None:
    def merged_openapi() -> Response:
        own = runtime().extras["api"].spec.to_dict()
        resp = jsonify(merge(own, cache.get()))
        resp.headers["Cache-Control"] = "no-cache"
        return resp

    # flask-smorest registered /openapi.json for the gateway's own spec: serve the merge.
    app.view_functions["api-docs.openapi_json"] = merged_openapi

    @app.get("/docs")
    def docs() -> Response:
        resp = Response(_DOCS_HTML, mimetype="text/html")
        resp.headers["Content-Security-Policy"] = DOCS_CSP
        return resp

    @app.get("/docs/init.js")
    def docs_init() -> Response:
        return Response(_DOCS_INIT, mimetype="text/javascript")

    @app.get("/docs/static/<name>")
    def docs_static(name: str) -> Response:
        if name not in DOCS_FILES:
            abort(404)
        resp = send_from_directory(str(swagger_ui_path), name, max_age=86400)
        resp.headers["Content-Security-Policy"] = DOCS_CSP
        return resp
