"""The app factory gives every component problem documents, request ids, health and OpenAPI."""

from __future__ import annotations

import json
import logging

import pytest
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from shared.problems import Problem
from shared.web import create_component_app
from tests.support.backends import METRICS_AUTH, Backend


class ThingSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=20))
    count = fields.Integer(required=True, validate=validate.Range(min=1))


def _blueprint() -> Blueprint:
    bp = Blueprint("things", __name__, url_prefix="/api/things")

    @bp.route("")
    class Things(MethodView):
        @bp.arguments(ThingSchema)
        @bp.response(201, ThingSchema)
        def post(self, data: dict) -> dict:
            if data["name"] == "taken":
                raise Problem(409, "Conflict", "That name is taken.", kind="duplicate")
            return data

    @bp.route("/boom")
    class Boom(MethodView):
        def get(self) -> None:
            raise RuntimeError("bug")

    return bp


@pytest.fixture
def client(backend: Backend):  # type: ignore[no-untyped-def]
    app = create_component_app(
        "catalogue",
        title="test",
        settings=backend.settings(EYHUB_MAX_BODY_BYTES="2000"),
        blueprints=[_blueprint()],
    )
    return app.test_client()


def _problem(resp) -> dict:  # type: ignore[no-untyped-def]
    assert resp.mimetype == "application/problem+json", resp.data
    body = resp.get_json(force=True)
    assert {"type", "title", "status"} <= body.keys()
    assert body["status"] == resp.status_code
    return body


def test_valid_request_and_request_id_echo(client) -> None:  # type: ignore[no-untyped-def]
    resp = client.post(
        "/api/things", json={"name": "a", "count": 2}, headers={"X-Request-ID": "abc-1"}
    )
    assert resp.status_code == 201
    assert resp.headers["X-Request-ID"] == "abc-1"
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert len(generated) >= 16


def test_unsafe_request_id_is_replaced(client) -> None:  # type: ignore[no-untyped-def]
    resp = client.get("/healthz", headers={"X-Request-ID": "bad id; <script>"})
    assert resp.headers["X-Request-ID"] != "bad id; <script>"


def test_field_errors_are_a_422_problem(client) -> None:  # type: ignore[no-untyped-def]
    body = _problem(client.post("/api/things", json={"name": "", "count": 0}))
    assert body["status"] == 422
    assert set(body["errors"]) == {"name", "count"}


def test_malformed_json_is_a_400_problem(client) -> None:  # type: ignore[no-untyped-def]
    resp = client.post("/api/things", data="{not json", content_type="application/json")
    assert resp.status_code in (400, 422)
    _problem(resp)


def test_oversized_body_is_413(client) -> None:  # type: ignore[no-untyped-def]
    resp = client.post("/api/things", json={"name": "x" * 5000, "count": 1})
    assert resp.status_code == 413
    _problem(resp)


def test_not_found_method_and_conflict(client) -> None:  # type: ignore[no-untyped-def]
    assert _problem(client.get("/nope"))["status"] == 404
    resp = client.delete("/api/things")
    assert _problem(resp)["status"] == 405 and "POST" in resp.headers["Allow"]
    body = _problem(client.post("/api/things", json={"name": "taken", "count": 1}))
    assert body["type"] == "urn:eyhub:problem:duplicate"


def test_unexpected_error_is_a_500_problem_not_html(client, caplog) -> None:  # type: ignore[no-untyped-def]
    with caplog.at_level(logging.ERROR):
        body = _problem(client.get("/api/things/boom"))
    assert body["status"] == 500
    assert "bug" not in json.dumps(body)  # internals stay in the log


def test_health_ready_metrics_openapi(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/healthz").get_json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    assert ready.get_json()["checks"]["database"]["ok"]
    client.post("/api/things", json={"name": "a", "count": 2})
    metrics = client.get("/metrics", headers=METRICS_AUTH).get_data(as_text=True)
    assert 'eyhub_http_requests_total{component="catalogue",endpoint="/api/things"' in metrics
    spec = client.get("/openapi.json").get_json()
    assert "/api/things" in spec["paths"]
    assert spec["openapi"].startswith("3.")


def test_readyz_is_503_when_the_database_is_gone(embedded: Backend) -> None:
    # Nothing listens on port 9: the database is unreachable.
    settings = embedded.settings(
        EYHUB_CATALOGUE_DATABASE_URL="postgresql://postgres@127.0.0.1:9/gone?connect_timeout=2"
    )
    app = create_component_app("catalogue", title="t", settings=settings)
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["checks"]["database"]["ok"] is False
