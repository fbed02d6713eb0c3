"""The merged OpenAPI document."""

from __future__ import annotations

from gateway.openapi import merge
from tests.gateway.conftest import FAKE_SPEC


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
