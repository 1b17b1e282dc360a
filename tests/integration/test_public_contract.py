"""The documents the API serves are its public contract: the spec without its `x-internal` parts, the same data
as JSON and as YAML, and the one Swagger UI shows. Connexion still routes the whole spec."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml
from starlette.testclient import TestClient

from web.spec import HTTP_METHODS, Contract

FULL = Contract.load().document


def _walk(node: Any, where: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(where, key, value) for every entry of every mapping and list in `node`."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield where, key, value
        yield from _walk(value, f"{where}/{key}")


def _internal_operations() -> set[str]:
    """The operationIds the spec marks internal, on the operation or on its path item."""
    return {
        op["operationId"]
        for item in FULL["paths"].values()
        for method, op in item.items()
        if method in HTTP_METHODS and (item.get("x-internal") is True or op.get("x-internal") is True)
    }


def _served(client: TestClient) -> tuple[dict[str, Any], dict[str, Any], str, str]:
    as_json = client.get("/api/v1/openapi.json")
    as_yaml = client.get("/api/v1/openapi.yaml")
    assert (as_json.status_code, as_yaml.status_code) == (200, 200)
    assert as_json.headers["content-type"] == "application/json"
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    return as_json.json(), yaml.safe_load(as_yaml.text), as_json.text, as_yaml.text


def test_the_served_json_and_yaml_are_one_document(client: TestClient) -> None:
    from_json, from_yaml, _, _ = _served(client)

    assert from_json == from_yaml
    assert from_json["openapi"] == "3.0.3"


def test_the_served_documents_carry_nothing_internal(client: TestClient) -> None:
    from_json, _, json_text, yaml_text = _served(client)
    internal = _internal_operations()
    assert {"getLiveness", "getReadiness", "getJwks", "getMetrics", "answerTwilioCall"} <= internal

    assert "x-internal" not in json_text
    assert "x-internal" not in yaml_text
    served_ids = {
        op["operationId"]
        for item in from_json["paths"].values()
        for method, op in item.items()
        if method in HTTP_METHODS
    }
    assert not served_ids & internal
    assert served_ids == {op.operation_id for op in Contract.load().operations} - internal
    assert not [path for path in from_json["paths"] if path.startswith(("/health-check", "/metrics", "/.well-known"))]
    # Generators ignore path-level servers: every served operation is under the one top-level server.
    assert not [path for path, item in from_json["paths"].items() if "servers" in item]
    assert not [where for where, key, value in _walk(from_json) if key == "content" and "application/xml" in value]


def test_the_served_documents_are_the_spec_s_public_part_with_its_integers_exact(client: TestClient) -> None:
    from_json, from_yaml, json_text, yaml_text = _served(client)
    expected = Contract.load().public_document
    served_variables = from_json["servers"][0]["variables"]

    assert {key: value for key, value in from_json.items() if key != "servers"} == {
        key: value for key, value in expected.items() if key != "servers"
    }
    assert served_variables["host"]["default"] == "testserver"  # this deployment, as the JSON always said
    bounds = [value for _, key, value in _walk(from_json) if key in ("minimum", "maximum") and value > 2**31]
    assert 2**53 - 1 in bounds
    assert all(type(value) is int for value in bounds), "a bound became a float on the way"
    assert all(type(value) is int for _, key, value in _walk(from_yaml) if key in ("minimum", "maximum"))
    for text in (json_text, yaml_text):
        assert re.search(r"maximum\"?: 9007199254740991\b", text), "int64 bounds are written as exact integers"


def test_both_documents_name_the_deployment_that_serves_them(client: TestClient) -> None:
    headers = {"Host": "api.example.com"}
    from_json = client.get("/api/v1/openapi.json", headers=headers).json()
    from_yaml = yaml.safe_load(client.get("/api/v1/openapi.yaml", headers=headers).text)

    assert from_json == from_yaml
    assert from_yaml["servers"][0]["variables"]["host"]["default"] == "api.example.com"


def test_swagger_ui_loads_the_public_document(client: TestClient) -> None:
    page = client.get("/api/v1/ui/")

    assert page.status_code == 200
    assert re.findall(r'\burl: "([^"]*)"', page.text) == ["/api/v1/openapi.json"]
    assert "configUrl" not in page.text
    assert "x-internal" not in client.get("/api/v1/openapi.json").text


def test_the_internal_operations_are_still_routed(client: TestClient) -> None:
    assert client.get("/health-check/liveness").json() == {"status": "ok"}
    assert client.get("/.well-known/jwks.json").json()["keys"]
    assert client.post("/api/v1/telephony/twilio/voice").status_code != 404
