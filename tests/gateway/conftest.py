"""Gateway fixtures: the gateway in process, and a fake upstream service on a real socket."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask, Response, jsonify, request
from flask.testing import FlaskClient
from werkzeug.serving import BaseWSGIServer, make_server

from gateway import MIGRATIONS
from gateway.app import create_app
from shared.migrations import upgrade
from tests.support.backends import Backend, free_port_base

BIG = b"id,name\n" + b"".join(b"%d,practitioner %d\n" % (i, i) for i in range(120_000))
FAKE_SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "fake catalogue", "version": "1"},
    "paths": {
        "/api/catalogue/things": {
            "get": {
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}
                        },
                    },
                    "default": {"$ref": "#/components/responses/DEFAULT_ERROR"},
                }
            }
        },
        "/healthz": {"get": {"responses": {"200": {"description": "ok"}}}},
    },
    "components": {
        "schemas": {"Thing": {"type": "object"}, "Error": {"type": "object"}},
        "responses": {
            "DEFAULT_ERROR": {
                "description": "error",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        },
    },
}


#: The hubs the fake catalogue knows (the gateway checks users' hub ids against them).
HUB_A = "11111111-1111-4111-8111-111111111111"
HUB_B = "22222222-2222-4222-8222-222222222222"
FAKE_HUBS = {HUB_A, HUB_B}


def fake_service() -> Flask:
    app = Flask("fake")

    @app.route(
        "/api/catalogue/echo", defaults={"rest": ""}, methods=["GET", "POST", "PUT", "DELETE"]
    )
    @app.route("/api/catalogue/echo/<path:rest>", methods=["GET", "POST", "PUT", "DELETE"])
    def echo(rest: str) -> Response:
        resp = jsonify(
            {
                "method": request.method,
                "path": request.path,
                "raw_uri": request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI"),
                "query": request.query_string.decode(),
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "body": request.get_data(as_text=True),
            }
        )
        resp.headers["Connection"] = "close, X-Upstream-Private"
        resp.headers["X-Upstream-Private"] = "secret"
        resp.headers["Keep-Alive"] = "timeout=5"
        resp.set_cookie("upstream", "1")
        return resp

    @app.get("/api/catalogue/big.csv")
    def big() -> Response:
        def gen() -> Iterator[bytes]:
            for i in range(0, len(BIG), 50_000):
                yield BIG[i : i + 50_000]

        return Response(gen(), mimetype="text/csv")

    @app.get("/api/catalogue/slow")
    def slow() -> Response:
        time.sleep(float(request.args.get("s", "2")))
        return jsonify({"slow": True})

    @app.get("/api/catalogue/status/<int:code>")
    def status(code: int) -> Response:
        return Response(status=code)

    @app.get("/calendar/hubs/<hub>.ics")
    def ics(hub: str) -> Response:
        return Response(
            f"BEGIN:VCALENDAR\r\nX-HUB:{hub}\r\nEND:VCALENDAR\r\n", mimetype="text/calendar"
        )

    @app.get("/api/catalogue/hubs/<hub_id>")
    def hub(hub_id: str) -> Response:
        if hub_id not in FAKE_HUBS:
            return Response(status=404)
        return jsonify({"id": hub_id, "name": f"Hub {hub_id[:4]}", "region": "London"})

    @app.get("/openapi.json")
    def spec() -> Response:
        return jsonify(FAKE_SPEC)

    return app


@dataclass
class FakeUpstream:
    port: int
    server: BaseWSGIServer | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server = make_server("127.0.0.1", self.port, fake_service(), threaded=True)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream(free_port_base(1))
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def make_gateway(backend: Backend, upstream: FakeUpstream) -> Callable[..., FlaskClient]:
    """A gateway app whose catalogue is the fake; the other services are closed ports."""
    closed = free_port_base(3)

    def make(**env: str) -> FlaskClient:
        overrides = {
            "EYHUB_CATALOGUE_URL": upstream.url,
            "EYHUB_BOOKINGS_URL": f"http://127.0.0.1:{closed}",
            "EYHUB_MENTORING_URL": f"http://127.0.0.1:{closed + 1}",
            "EYHUB_BUDGET_URL": f"http://127.0.0.1:{closed + 2}",
            "EYHUB_BREAKER_RESET_SECONDS": "1",
            "EYHUB_BREAKER_FAIL_MAX": "3",
            "EYHUB_UPSTREAM_READ_TIMEOUT": "1",
            **env,
        }
        settings = backend.settings(**overrides)
        upgrade(
            "gateway", settings, MIGRATIONS
        )  # what `eyhub migrate` / `eyhub up` do before serving
        app = create_app(settings)
        return app.test_client()

    return make


@pytest.fixture
def gw(make_gateway: Callable[..., FlaskClient]) -> FlaskClient:
    return make_gateway()


def login(client: FlaskClient, email: str, password: str) -> str:
    resp = client.post("/api/auth/token", json={"email": email, "password": password})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["access_token"]


def admin_token(client: FlaskClient) -> str:
    return login(client, "admin@example.org", "admin-password")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:500])
    assert resp.mimetype == "application/problem+json", resp.mimetype
    body = resp.get_json(force=True)
    assert body["status"] == status
    return body
