"""The merged OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import import_module
from typing import Any

import pytest
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from gateway.openapi import merge
from shared.config import SERVICES
from shared.fields import OPENAPI_MARKER, UTC_DATETIME, UTCDateTime
from shared.pagination import CURSOR, NEXT_CURSOR
from tests.gateway.conftest import FAKE_SPEC
from tests.support.backends import Backend


def test_merge_prefixes_components_and_rewrites_refs() -> None:
    own = {"openapi": "3.0.3", "info": {"title": "eyhub"}, "paths": {"/api/auth/me": {}}}
    other = {
        "paths": {"/api/bookings/x": {"get": {"$ref": "#/components/schemas/Thing"}}},
        "components": {"schemas": {"Thing": {"type": "string"}}},
    }
    doc = merge(own, {"catalogue": FAKE_SPEC, "bookings": other, "budget": None})
    assert set(doc["paths"]) == {"/api/auth/me", "/api/catalogue/things", "/api/bookings/x"}
    schemas = doc["components"]["schemas"]
    assert {"catalogue.Thing", "catalogue.Error", "bookings.Thing"} <= set(schemas)
    get = doc["paths"]["/api/catalogue/things"]["get"]["responses"]
    assert get["200"]["content"]["application/json"]["schema"]["$ref"] == (
        "#/components/schemas/catalogue.Thing"
    )
    assert get["default"]["$ref"] == "#/components/responses/catalogue.DEFAULT_ERROR"
    assert doc["paths"]["/api/bookings/x"]["get"]["$ref"] == "#/components/schemas/bookings.Thing"
    assert doc["x-eyhub-unavailable"] == ["budget"]
    assert "budget" in doc["info"]["description"]
    assert "bearerAuth" in doc["components"]["securitySchemes"]
    assert "Thing" not in own.get("components", {}).get("schemas", {})  # input untouched


def test_gateway_serves_the_merge(gw) -> None:  # type: ignore[no-untyped-def]
    doc = gw.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    assert {"/api/auth/token", "/api/auth/me", "/api/catalogue/things"} <= set(doc["paths"])
    assert "/healthz" not in doc["paths"]  # not routed by the gateway
    assert sorted(doc["x-eyhub-unavailable"]) == ["bookings", "budget", "mentoring"]
    me = doc["paths"]["/api/auth/me"]["get"]
    assert me["security"] == [{"bearerAuth": []}]


# -- the platform's one dialect: every datetime and every list, across the merged document
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
COMPONENT_APPS = {"gateway": "gateway.app", **{s: f"services.{s}.app" for s in SERVICES}}


@pytest.fixture(scope="module")
def platform_doc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The merged document of every component app, each built in process (embedded)."""
    backend = Backend("embedded", tmp_path_factory.mktemp("openapi") / "data")
    backend.create()
    settings = backend.settings(EYHUB_AUTO_MIGRATE="true")
    apps = {
        name: import_module(module).create_app(settings) for name, module in COMPONENT_APPS.items()
    }
    try:
        own = apps["gateway"].extensions["eyhub"].extras["api"].spec.to_dict()
        specs = {s: apps[s].test_client().get("/openapi.json").get_json() for s in SERVICES}
        yield merge(own, specs)
    finally:
        for app in apps.values():
            app.extensions["eyhub"].db.dispose()
        backend.destroy()


def _nodes(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object in an OpenAPI document, with a JSON-pointer-ish path to it."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _nodes(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _nodes(value, f"{where}/{i}")


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def dialect_violations(doc: dict[str, Any]) -> list[str]:
    """What in ``doc`` was not made by the kernel's UTCDateTime / Cursor / NextCursor."""
    bad = []
    for where, node in _nodes(doc):
        if node.get("format") == "date-time" and node.get(OPENAPI_MARKER) != UTC_DATETIME:
            bad.append(f"{where}: a date-time not from shared.fields.UTCDateTime")
        props = node.get("properties")
        if isinstance(props, dict) and "next_cursor" in props:
            if props["next_cursor"].get(OPENAPI_MARKER) != NEXT_CURSOR:
                bad.append(f"{where}/properties/next_cursor: not shared.pagination.NextCursor")
            if _resolve(doc, props.get("items", {})).get("type") != "array":
                bad.append(f"{where}: a page without an items array")
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            shared_params = item.get("parameters", [])
            params = {
                p.get("name"): p
                for p in [*shared_params, *op.get("parameters", [])]
                if p.get("in") == "query"
            }
            if "cursor" not in params:
                continue
            where = f"{method.upper()} {path}"
            if params["cursor"].get("schema", {}).get(OPENAPI_MARKER) != CURSOR:
                bad.append(f"{where}: cursor parameter not shared.pagination.Cursor")
            if "limit" not in params:
                bad.append(f"{where}: takes a cursor but no limit")
            ok = op.get("responses", {}).get("200", {})
            body = ok.get("content", {}).get("application/json", {}).get("schema", {})
            if "next_cursor" not in _resolve(doc, body).get("properties", {}):
                bad.append(f"{where}: takes a cursor but does not answer a page")
    return bad


def test_every_datetime_and_list_in_the_platform_uses_the_kernel_fields(
    platform_doc: dict[str, Any],
) -> None:
    assert dialect_violations(platform_doc) == []
    schemas = platform_doc["components"]["schemas"]
    # Not vacuous: each component's datetimes and lists are in the document and marked.
    for name, prop in [
        ("User", "created_at"),
        ("catalogue.Session", "starts_at"),
        ("catalogue.AuditEntry", "at"),
        ("bookings.Booking", "confirmed_at"),
    ]:
        assert schemas[name]["properties"][prop][OPENAPI_MARKER] == UTC_DATETIME, name
    sessions = platform_doc["paths"]["/api/catalogue/sessions"]["get"]["parameters"]
    assert {p["name"]: p["schema"].get(OPENAPI_MARKER) for p in sessions}["from"] == UTC_DATETIME
    listed = [
        f"{m} {p}"
        for p, item in platform_doc["paths"].items()
        for m, op in item.items()
        if m in HTTP_METHODS and any(q.get("name") == "cursor" for q in op.get("parameters", []))
    ]
    assert {"get /api/auth/users", "get /api/catalogue/sessions", "get /api/bookings"} <= set(
        listed
    )


def test_the_check_catches_a_plain_marshmallow_datetime_and_cursor() -> None:
    class Stray(Schema):
        created_at = fields.DateTime()

    class StrayPage(Schema):
        items = fields.List(fields.Nested(Stray))
        next_cursor = fields.String(allow_none=True)

    class Good(Schema):
        created_at = UTCDateTime()

    spec = APISpec("t", "1", "3.0.3", plugins=[MarshmallowPlugin()])
    spec.components.schema("StrayPage", schema=StrayPage)
    spec.components.schema("Good", schema=Good)
    found = dialect_violations(spec.to_dict())
    assert len(found) == 2
    assert any("Stray/properties/created_at" in v and "date-time" in v for v in found)
    assert any("next_cursor" in v for v in found)
