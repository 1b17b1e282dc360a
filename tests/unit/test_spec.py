"""The spec is written for customers, SDK generators and fuzzers: hold it to the API guidelines."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from core import __version__
from core.config import PROJECT_ROOT
from models.business import API_KEY_SCOPES, ROLE_SCOPES
from web.spec import SPEC_PATH, Contract

CONTRACT = Contract.load()
OPERATIONS = CONTRACT.operations


def _schemas(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object in the document, with where it is."""
    if isinstance(node, dict):
        if "type" in node and isinstance(node["type"], str):
            yield where, node
        for key, value in node.items():
            yield from _schemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _schemas(value, f"{where}/{index}")


def _operation(op_id: str) -> dict[str, Any]:
    for op in OPERATIONS:
        if op.operation_id == op_id:
            template = (
                op.path.removeprefix(CONTRACT.base_path) if op.path.startswith(CONTRACT.base_path + "/") else op.path
            )
            return CONTRACT.document["paths"][template][op.method.lower()]  # type: ignore[no-any-return]
    raise LookupError(op_id)


def test_version_of_the_spec_is_the_service_version() -> None:
    assert CONTRACT.document["openapi"] == "3.0.3"
    assert CONTRACT.document["info"]["version"] == __version__
    assert CONTRACT.base_path == "/api/v1"


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.operation_id)
def test_every_operation_is_documented_for_sdks(op: Any) -> None:
    definition = _operation(op.operation_id)

    assert re.fullmatch(r"[a-z][a-zA-Z]+", op.operation_id)
    assert len(definition["tags"]) == 1
    assert definition["summary"]
    assert {"400", "413", "500"} <= set(definition["responses"])
    for status, response in definition["responses"].items():
        if status.startswith("2") and "content" in response:  # 202/204 answer without a body
            for media_type, content in response["content"].items():  # JSON, TwiML, Prometheus text
                assert "example" in content, (status, media_type)
            assert "X-Request-ID" in response["headers"]


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.operation_id)
def test_every_operation_has_a_handler(op: Any) -> None:
    assert callable(CONTRACT.resolve_handler(op.operation_id))


def test_every_string_integer_and_array_is_bounded() -> None:
    for where, schema in _schemas(CONTRACT.document):
        if schema["type"] == "string" and "enum" not in schema:
            assert "maxLength" in schema, where
        if schema["type"] == "integer":
            assert schema.get("format") in ("int32", "int64"), where
            assert "minimum" in schema, where
            assert "maximum" in schema, where
        if schema["type"] == "array":
            assert "maxItems" in schema, where


def test_the_probes_are_served_at_the_root_and_the_rest_under_the_base_path() -> None:
    apis = dict(CONTRACT.apis())

    assert set(apis) == {"/api/v1", ""}
    assert set(apis[""]["paths"]) == {
        "/health-check/liveness",
        "/health-check/readiness",
        "/.well-known/jwks.json",
        "/metrics",
    }
    assert "/plans/{planId}" in apis["/api/v1"]["paths"]
    assert all("servers" not in item for item in apis[""]["paths"].values())


def allowed(path: str) -> frozenset[str] | None:
    route = CONTRACT.route(path)
    return route.allowed if route else None


def test_routes_match_concrete_paths() -> None:
    assert allowed("/api/v1/plans/3b0e7f7c-5b8a-4c0e-9a51-0c7e7d3b9f21") == {"GET"}
    assert allowed("/health-check/liveness") == {"GET"}
    assert allowed("/api/v1/plans/a/b") is None
    assert allowed("/api/v1/health-check/liveness") is None
    assert allowed("/api/v1/admin/jobs/cleanup") == {"POST"}  # the concrete path wins
    assert allowed("/api/v1/admin/jobs/3b0e7f7c-5b8a-4c0e-9a51-0c7e7d3b9f21") == {"GET", "DELETE"}


def test_a_route_names_its_operations_their_api_and_the_path_parameters() -> None:
    route = CONTRACT.route("/api/v1/admin/jobs/3b0e7f7c-5b8a-4c0e-9a51-0c7e7d3b9f21")

    assert route is not None
    operations = {method: op.operation_id for method, op in route.operations.items()}
    assert operations == {"GET": "getJob", "DELETE": "deleteJob"}
    assert {op.base_path for op in route.operations.values()} == {"/api/v1"}
    assert route.params == {"jobId": "3b0e7f7c-5b8a-4c0e-9a51-0c7e7d3b9f21"}
    liveness = CONTRACT.route("/health-check/liveness")
    assert liveness is not None
    assert (liveness.operations["GET"].base_path, liveness.params) == ("", {})  # served at the root


def test_handler_names_follow_the_tag_and_operation_id() -> None:
    assert CONTRACT.handler_name("listPlans") == "handlers.catalog.list_plans"
    assert CONTRACT.handler_name("getLiveness") == "handlers.health.get_liveness"


def test_the_scopes_in_code_are_the_scopes_in_the_spec() -> None:
    """Roles and API keys (models/business.py) grant exactly what the spec declares and operations require."""
    schemes = CONTRACT.document["components"]["securitySchemes"]
    declared = set(schemes["userToken"]["flows"]["password"]["scopes"])
    granted = {scope for scopes in ROLE_SCOPES.values() for scope in scopes}
    required_of_keys = {
        scope
        for path_item in CONTRACT.document["paths"].values()
        for operation in path_item.values()
        if isinstance(operation, dict) and any("apiKey" in req for req in operation.get("security", []))
        for scope in CONTRACT.person_scopes[operation["operationId"]]  # what web.security asks of a key
    }

    assert granted <= declared
    assert CONTRACT.document["components"]["schemas"]["ApiKeyScope"]["enum"] == list(API_KEY_SCOPES)
    assert required_of_keys <= set(API_KEY_SCOPES)
    assert set(API_KEY_SCOPES) <= granted


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.operation_id)
def test_every_operation_says_what_it_does_and_parses_any_error(op: Any) -> None:
    definition = _operation(op.operation_id)

    assert definition.get("description"), "a description for readers and SDK docstrings"
    assert definition["responses"]["default"] == {"$ref": "#/components/responses/Default"}


def test_api_key_requirements_carry_no_scopes() -> None:
    """OpenAPI 3.0.3: for `apiKey` the list MUST be empty (web.security reads the userToken requirement)."""
    for path_item in CONTRACT.document["paths"].values():
        for operation in path_item.values():
            if isinstance(operation, dict):
                for requirement in operation.get("security", []):
                    assert requirement.get("apiKey", []) == [], operation["operationId"]


def test_enums_name_their_members_for_generators() -> None:
    for name, schema in CONTRACT.document["components"]["schemas"].items():
        if len(schema.get("enum", ())) > 1:
            assert len(schema.get("x-enum-varnames", ())) == len(schema["enum"]), name
            assert "May grow" in schema.get("description", ""), name


def _catalogue() -> set[str]:
    table = CONTRACT.document["components"]["schemas"]["Problem"]["properties"]["code"]["description"]
    return set(re.findall(r"^\| `([a-z_]+)` \|", table, re.M))


def _codes_in_code() -> set[str]:
    """Every problem code our code defines: `code = ...` on an error class, or the first argument of
    BusinessRuleBroken(...) / Conflict(...)."""
    found = {"not_acceptable"}  # web.errors names a plain 406 after its status
    for folder in ("core", "models", "services", "web", "connectors"):
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("BusinessRuleBroken", "Conflict"):
                    found.update(arg.value for arg in node.args[:1] if isinstance(arg, ast.Constant))
                if isinstance(node, ast.ClassDef):
                    found.update(_class_codes(node))
    return found


def _class_codes(cls: ast.ClassDef) -> Iterator[str]:
    for statement in cls.body:
        if isinstance(statement, ast.Assign):
            value = statement.value
            for target in statement.targets:
                pairs = (
                    zip(target.elts, value.elts, strict=False)
                    if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple)
                    else [(target, value)]
                )
                yield from (
                    v.value for t, v in pairs if getattr(t, "id", None) == "code" and isinstance(v, ast.Constant)
                )


def _example_codes(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("code"), str) and "status" in node and "requestId" in node:
            yield node["code"]
        for value in node.values():
            yield from _example_codes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _example_codes(value)


def test_the_problem_catalogue_is_every_code_the_server_has_and_examples_use_only_those() -> None:
    catalogue = _catalogue()

    assert catalogue == _codes_in_code()
    assert set(_example_codes(CONTRACT.document)) <= catalogue
    assert len(CONTRACT.document["info"]["description"]) < 1500  # generators paste it into every file


def test_the_server_url_is_absolute_with_defaults_that_reach_make_run() -> None:
    server = CONTRACT.document["servers"][0]
    defaults = {name: variable["default"] for name, variable in server["variables"].items()}

    assert server["url"].format(**defaults) == "http://localhost:3001/api/v1"
    for template, item in CONTRACT.document["paths"].items():
        assert ("servers" in item) == item.get("x-internal", False), template  # only internal probes sit elsewhere


def test_no_key_is_written_twice() -> None:
    """PyYAML keeps the last of two equal keys silently; Redocly and Spectral refuse the file."""

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
            duplicates = {key for key in keys if keys.count(key) > 1}
            assert not duplicates, f"{duplicates} twice at line {node.start_mark.line + 1}"
            return super().construct_mapping(node, deep=deep)

    yaml.load(SPEC_PATH.read_text(encoding="utf-8"), Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass


PROBE = Contract.load(PROJECT_ROOT / "tests" / "integration" / "probe" / "openapi.yaml")


@pytest.mark.parametrize("contract", [CONTRACT, PROBE], ids=["the spec", "the probe spec"])
def test_a_deprecated_operation_names_when_it_was_deprecated_and_when_it_goes(contract: Contract) -> None:
    """Its responses carry Deprecation and Sunset from these dates (web/middleware.py Edge)."""
    deprecated = [op for _, _, op in _operations(contract.document) if op.get("deprecated")]

    for op in deprecated:
        assert set(contract.deprecations[op["operationId"]]) == {"Deprecation", "Sunset"}
        assert str(op["x-deprecated-at"]) < str(op["x-sunset"]), op["operationId"]
    assert set(contract.deprecations) == {op["operationId"] for op in deprecated}


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and "operationId" in op:
                yield path, method, op


def test_every_operation_that_takes_a_pasted_token_checks_it_as_user_token() -> None:
    """Swagger UI's paste field (`bearerAuth`) works wherever a person's token does, and nowhere without userToken's
    scopes (Connexion checks none for http bearer schemes: tests/integration/test_bearer_scheme.py)."""
    document = CONTRACT.document
    for item in document["paths"].values():
        for op in item.values():
            if not (isinstance(op, dict) and "operationId" in op):
                continue
            requirements = op.get("security", document.get("security", []))
            with_bearer = [r for r in requirements if "bearerAuth" in r]
            with_user_token = [r for r in requirements if "userToken" in r]
            assert bool(with_bearer) == bool(with_user_token), op["operationId"]
            assert all(r == {"bearerAuth": []} for r in with_bearer), op["operationId"]  # alone, never AND-ed
