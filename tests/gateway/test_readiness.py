"""The gateway's /readyz is its own (database, broker, keys); services are at ?deep=1.

And its /metrics is not public: it needs the metrics token (shared/health.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from flask import Flask, jsonify
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from shared.config import SERVICES
from tests.gateway.conftest import problem
from tests.support.backends import METRICS_AUTH, free_port_base


@pytest.fixture
def ready_services() -> Iterator[str]:
    """One server answering every service's /readyz with 200 (all four URLs point at it)."""
    app = Flask("ready")

    @app.get("/readyz")
    def readyz():  # type: ignore[no-untyped-def]
        return jsonify({"status": "ready"})

    server = make_server("127.0.0.1", free_port_base(1), app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_readyz_is_the_gateways_own_while_services_are_down(gw: FlaskClient) -> None:
    # The fixture's catalogue is a fake without /readyz; the other services are closed ports.
    resp = gw.get("/readyz")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["deep"] is False
    checks = body["checks"]
    assert "services" not in checks
    assert checks["database"]["ok"] and checks["broker"]["ok"]
    assert checks["keys"]["ok"] and checks["keys"]["published"] >= 1


def test_deep_readyz_shows_each_service_and_its_circuit(gw: FlaskClient) -> None:
    resp = gw.get("/readyz?deep=1")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["deep"] is True
    services = body["checks"]["services"]
    assert services["ok"] is False
    states = services["services"]
    assert set(states) == set(SERVICES)
    assert states["catalogue"] == {"ready": False, "status": 404, "circuit": "closed"}
    assert states["bookings"]["status"] == "ConnectionError"
    assert body["checks"]["database"]["ok"]  # its own checks run too


def test_deep_readyz_is_ready_when_every_service_is(
    make_gateway: Callable[..., FlaskClient], ready_services: str
) -> None:
    gw = make_gateway(**{f"EYHUB_{s.upper()}_URL": ready_services for s in SERVICES})
    resp = gw.get("/readyz?deep=1")
    assert resp.status_code == 200, resp.get_json()
    states = resp.get_json()["checks"]["services"]["services"]
    assert all(state["ready"] and state["status"] == 200 for state in states.values())


def test_every_circuit_is_in_the_metrics_from_the_start(gw: FlaskClient) -> None:
    text = gw.get("/metrics", headers=METRICS_AUTH).get_data(as_text=True)
    for service in SERVICES:
        assert f'eyhub_gateway_circuit_open{{service="{service}"}} 0.0' in text


def test_gateway_metrics_need_the_token(make_gateway: Callable[..., FlaskClient]) -> None:
    gw = make_gateway()
    resp = gw.get("/metrics")
    problem(resp, 401)
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    problem(gw.get("/metrics", headers={"Authorization": "Bearer not-the-token"}), 401)
    ok = gw.get("/metrics", headers=METRICS_AUTH)
    assert ok.status_code == 200
    assert "eyhub_http_requests_total" in ok.get_data(as_text=True)
    # Without a configured token the public port does not serve metrics at all.
    closed = make_gateway(EYHUB_METRICS_TOKEN="")
    problem(closed.get("/metrics", headers=METRICS_AUTH), 404)
