"""`web.spec.public`: the public contract, the spec without its `x-internal` parts (what is served, shown in
Swagger UI and Redoc, and what SDKs are generated from)."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from web.spec import Contract, dump_yaml, public

BIG = 2**63 - 1

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "servers": [{"url": "{scheme}://{host}/api/v1", "x-internal": False, "variables": {"host": {"default": "h"}}}],
    "tags": [{"name": "Public"}, {"name": "Hidden"}, {"name": "Unused"}],
    "paths": {
        "/probe": {
            "x-internal": True,
            "servers": [{"url": "/"}],
            "get": {
                "operationId": "probe",
                "tags": ["Public"],
                "responses": {"200": {"$ref": "#/components/responses/Probe"}},
            },
        },
        "/mixed": {
            "get": {
                "operationId": "listThings",
                "tags": ["Public"],
                "parameters": [
                    {"name": "debug", "in": "query", "x-internal": True, "schema": {"type": "boolean"}},
                    {"$ref": "#/components/parameters/Limit"},
                ],
                "security": [{"apiKey": []}],
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}},
                    }
                },
            },
            "post": {
                "operationId": "hiddenCallback",
                "tags": ["Hidden"],
                "x-internal": True,
                "security": [{"signature": []}],
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {"application/xml": {"schema": {"$ref": "#/components/schemas/Xml"}}},
                    }
                },
            },
        },
    },
    "components": {
        "schemas": {
            "Thing": {
                "type": "object",
                "required": ["id", "secret", "count"],
                "properties": {
                    "id": {"type": "string"},
                    "secret": {"type": "string", "x-internal": True},
                    "count": {"type": "integer", "format": "int64", "minimum": -BIG - 1, "maximum": BIG},
                },
            },
            "Xml": {"type": "string"},
            "Probe": {"type": "object"},
            "NeverUsed": {"type": "string"},
        },
        "responses": {
            "Probe": {
                "description": "ok",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Probe"}}},
            }
        },
        "parameters": {"Limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": BIG}}},
        "securitySchemes": {
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "signature": {"type": "apiKey", "in": "header", "name": "X-Sig"},
        },
    },
}


def test_internal_path_items_operations_parameters_and_properties_are_left_out() -> None:
    result = public(DOCUMENT)

    assert list(result["paths"]) == ["/mixed"]
    assert list(result["paths"]["/mixed"]) == ["get"]
    assert result["paths"]["/mixed"]["get"]["parameters"] == [{"$ref": "#/components/parameters/Limit"}]
    thing = result["components"]["schemas"]["Thing"]
    assert list(thing["properties"]) == ["id", "count"]
    assert thing["required"] == ["id", "count"]


def test_what_only_internal_parts_used_goes_and_what_nothing_used_stays() -> None:
    components = public(DOCUMENT)["components"]

    assert set(components["schemas"]) == {"Thing", "NeverUsed"}
    assert components["responses"] == {}
    assert set(components["securitySchemes"]) == {"apiKey"}
    assert [tag["name"] for tag in public(DOCUMENT)["tags"]] == ["Public", "Unused"]


def test_no_x_internal_key_is_left_not_even_false_and_the_input_is_unchanged() -> None:
    before = copy.deepcopy(DOCUMENT)

    result = public(DOCUMENT)

    assert "x-internal" not in dump_yaml(result)
    assert result["servers"] == [{"url": "{scheme}://{host}/api/v1", "variables": {"host": {"default": "h"}}}]
    assert before == DOCUMENT


def test_the_yaml_keeps_key_order_and_exact_integers_and_writes_no_anchors() -> None:
    shared = {"type": "string"}
    document = {"b": 1, "a": {"x": shared, "y": shared}, "big": BIG, "text": "two\nlines\n"}

    written = dump_yaml(document)

    assert yaml.safe_load(written) == document
    assert [line.split(":")[0] for line in written.splitlines() if not line.startswith(" ")] == [
        "b",
        "a",
        "big",
        "text",
    ]
    assert f"big: {BIG}\n" in written
    assert "&" not in written
    assert "text: |\n  two\n  lines\n" in written


def test_the_real_spec_s_public_part_has_no_internal_operation_and_no_path_level_server() -> None:
    contract = Contract.load()
    document = contract.public_document

    assert contract.document["paths"]["/health-check/liveness"]["x-internal"] is True  # the full spec keeps it
    assert "/health-check/liveness" not in document["paths"]
    assert not [path for path, item in document["paths"].items() if "servers" in item]
    assert yaml.safe_load(dump_yaml(document)) == document
