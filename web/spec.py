"""The OpenAPI document, read once: the single source of routes, handlers and allowed methods; and the public
contract served from it (`public`: the document without its `x-internal` parts).

  python -m web.spec PATH   writes the public contract as YAML to PATH (`make docs` builds Redoc from it)
"""

from __future__ import annotations

import copy
import importlib
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from email.utils import format_datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi" / "openapi.yaml"
# The API reference (Redoc, one HTML file) that `make docs` builds from the spec; served at {base}/docs.
DOCS_PATH = SPEC_PATH.parent.parent / "build" / "docs" / "index.html"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str  # full path as served, e.g. /api/v1/plans/{planId}
    operation_id: str
    tag: str
    base_path: str = ""  # the API it is served under (app.py mounts one per server), e.g. /api/v1


@dataclass(frozen=True)
class Route:
    """What the spec serves at one concrete request path: `Contract.route`."""

    allowed: frozenset[str]  # the methods declared there
    operations: dict[str, Operation]  # by method
    params: dict[str, str]  # the path parameters, by name


def _date(value: object) -> date:
    """A date the spec writes unquoted (YAML reads it as one) or quoted."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?")


def _path_of(server: dict[str, Any]) -> str:
    defaults = {name: str(variable["default"]) for name, variable in server.get("variables", {}).items()}
    return urlsplit(str(server["url"]).format(**defaults)).path.rstrip("/")


def _path_pattern(template: str) -> re.Pattern[str]:
    """The template as a regex whose groups are its parameters, in order."""
    parts = re.split(r"(\{[^}/]+\})", template)
    regex = "".join("([^/]+)" if part.startswith("{") else re.escape(part) for part in parts)
    return re.compile(regex)


_Template = tuple[re.Pattern[str], list[str], dict[str, Operation]]  # (pattern, parameter names, operations by method)

INTERNAL = "x-internal"


def _internal(node: Any) -> bool:
    return isinstance(node, dict) and node.get(INTERNAL) is True


def _strip_internal(node: Any) -> Any:
    """`node` without what is marked `x-internal: true`, nor any `x-internal` key (the `false` ones are for
    linters: Spectral's OWASP rules want every server to say it); a property left out leaves `required` too."""
    if isinstance(node, list):
        return [_strip_internal(item) for item in node if not _internal(item)]
    if not isinstance(node, dict):
        return node
    result = {key: _strip_internal(value) for key, value in node.items() if key != INTERNAL and not _internal(value)}
    properties = node.get("properties")
    if isinstance(properties, dict) and isinstance(node.get("required"), list):
        result["required"] = [name for name in node["required"] if not _internal(properties.get(name))]
        if not result["required"]:
            del result["required"]
    return result


def _operations_of(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for item in document.get("paths", {}).values():
        yield from (op for method, op in item.items() if method in HTTP_METHODS and isinstance(op, dict))


def _used(document: dict[str, Any]) -> set[str]:
    """The components (`#/components/KIND/NAME`) reachable from everything outside `components`, and the tags
    (`#/tags/NAME`) operations name."""
    components = document.get("components", {})
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/") and ref not in found:
                found.add(ref)
                kind, name = ref.split("/")[2:4]
                walk(components.get(kind, {}).get(name))
            for key, value in node.items():
                if key != "$ref":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({key: value for key, value in document.items() if key != "components"})
    # Security schemes are named by requirements, not by $ref.
    requirements = list(document.get("security", []))
    requirements += [requirement for op in _operations_of(document) for requirement in op.get("security", [])]
    found.update(f"#/components/securitySchemes/{name}" for requirement in requirements for name in requirement)
    found.update(f"#/tags/{tag}" for op in _operations_of(document) for tag in op.get("tags", []))
    return found


def public(document: dict[str, Any]) -> dict[str, Any]:
    """The public contract: what customers download, generate SDKs from and read in Swagger UI and Redoc.

    Like Redocly's `remove-x-internal` decorator: any path item, operation, parameter, schema or property
    marked `x-internal: true` is left out, and a path item left without operations goes with it. Components
    and tags that only the left-out parts used go too (else generators make models nothing returns and warn
    "Unused model"); those the whole document never used stay. Nothing else changes: the key order is the
    spec's and integers keep their exact value (2^63-1 stays 9223372036854775807, which a JavaScript bundler
    rounds). `document` is not changed.
    """
    result: dict[str, Any] = _strip_internal(document)
    result["paths"] = {
        path: item
        for path, item in result.get("paths", {}).items()
        if any(method in item for method in HTTP_METHODS) or "$ref" in item
    }
    orphaned = _used(document) - _used(result)
    for kind, entries in result.get("components", {}).items():
        for name in [name for name in entries if f"#/components/{kind}/{name}" in orphaned]:
            del entries[name]
    if "tags" in result:
        result["tags"] = [tag for tag in result["tags"] if f"#/tags/{tag.get('name')}" not in orphaned]
    return result


class _YamlDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    def ignore_aliases(self, data: Any) -> bool:
        return True  # every node written out: no &id001 anchors for a reader to resolve


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Descriptions as the spec writes them (`|` blocks); PyYAML falls back to quotes where a block cannot hold one.
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_YamlDumper.add_representer(str, _represent_str)


def dump_yaml(document: dict[str, Any]) -> str:
    """`document` as YAML, keys in their order, integers exact."""
    return yaml.dump(document, Dumper=_YamlDumper, sort_keys=False, allow_unicode=True, width=120)


@dataclass(frozen=True)
class Contract:
    document: dict[str, Any] = field(repr=False)  # the whole spec: what Connexion routes, internal parts included
    handler_package: str = "handlers"
    # (notation, scheme, host) -> the public contract served, for the few deployment names asked for
    _copies: dict[tuple[str, str, str], bytes] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def load(cls, path: Path = SPEC_PATH, handler_package: str = "handlers") -> Contract:
        return cls(document=yaml.safe_load(path.read_text(encoding="utf-8")), handler_package=handler_package)

    @cached_property
    def public_document(self) -> dict[str, Any]:
        """The public contract (`public`): served at {base}/openapi.json and .yaml, shown by Swagger UI and Redoc."""
        return public(self.document)

    @property
    def base_path(self) -> str:
        """The path part of the first server's URL (`{scheme}://{host}/api/v1` -> /api/v1)."""
        return _path_of(self.document["servers"][0])

    def _server_of(self, path_item: dict[str, Any]) -> str:
        # OpenAPI lets a path item name its own server (the probes live at the root, outside /api/v1).
        # Connexion ignores path-level servers, so the app mounts one API per server instead.
        servers = path_item.get("servers")
        return _path_of(servers[0]) if servers else self.base_path

    def _served(self, notation: str, scheme: str, host: str) -> bytes:
        key = (
            notation,
            scheme if scheme in ("http", "https") else "",
            host if _HOST.fullmatch(host) else "",
        )
        if key not in self._copies:
            if len(self._copies) >= 16:  # Host is the client's to choose: keep a few copies at most
                self._copies.clear()
            document = copy.deepcopy(self.public_document)
            variables = document["servers"][0].get("variables", {})
            for name, value in zip(("scheme", "host"), key[1:], strict=True):
                if value and name in variables:
                    variables[name]["default"] = value
            text = json.dumps(document, default=str) if notation == "json" else dump_yaml(document)
            self._copies[key] = text.encode()
        return self._copies[key]

    def served_json(self, scheme: str, host: str) -> bytes:
        """The public contract as JSON, its server's defaults naming the deployment that serves it (so Swagger
        UI and an SDK generated from this copy reach it); an implausible Host keeps the spec's defaults."""
        return self._served("json", scheme, host)

    def served_yaml(self, scheme: str, host: str) -> bytes:
        """The same document as `served_json`, as YAML."""
        return self._served("yaml", scheme, host)

    def apis(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(base path, document with only the paths served under it), the main API first."""
        by_server: dict[str, dict[str, Any]] = {self.base_path: {}}
        for template, item in self.document["paths"].items():
            by_server.setdefault(self._server_of(item), {})[template] = {
                key: value for key, value in item.items() if key != "servers"
            }
        for base_path, paths in by_server.items():
            yield base_path, {**copy.deepcopy(self.document), "paths": paths}

    @cached_property
    def operations(self) -> tuple[Operation, ...]:
        found = []
        for template, item in self.document["paths"].items():
            for method in HTTP_METHODS:
                if method in item:
                    op = item[method]
                    server = self._server_of(item)
                    found.append(Operation(method.upper(), server + template, op["operationId"], op["tags"][0], server))
        return tuple(found)

    @cached_property
    def _routes(self) -> tuple[dict[str, Route], dict[int, list[_Template]]]:
        """Literal paths' routes by path, and templates by their number of segments (a parameter is one segment)."""
        by_path: dict[str, dict[str, Operation]] = {}
        for op in self.operations:
            by_path.setdefault(op.path, {})[op.method] = op
        literal: dict[str, Route] = {}
        templates: dict[int, list[_Template]] = {}
        for path, operations in by_path.items():
            if "{" in path:
                names = re.findall(r"\{([^}/]+)\}", path)
                templates.setdefault(path.count("/"), []).append((_path_pattern(path), names, operations))
            else:
                literal[path] = Route(frozenset(operations), operations, {})
        return literal, templates

    def route(self, path: str) -> Route | None:
        """What the spec serves at a concrete request path, or None if no path matches. The app routes each request
        once, with this (web/middleware.py): Connexion's router would try every route's pattern in turn.

        As OpenAPI says, a concrete path wins over a template that also matches it: /admin/jobs/cleanup
        is that path, not /admin/jobs/{jobId} with jobId "cleanup".
        """
        literal, templates = self._routes
        if path in literal:
            return literal[path]
        matching = [
            (names, operations, match)
            for pattern, names, operations in templates.get(path.count("/"), ())
            if (match := pattern.fullmatch(path))
        ]
        if not matching:
            return None
        fewest = min(len(names) for names, _, _ in matching)
        operations: dict[str, Operation] = {}
        params: dict[str, str] = {}
        for names, found, match in matching:
            if len(names) == fewest:
                operations = {**found, **operations}
                params = params or dict(zip(names, match.groups(), strict=True))
        return Route(frozenset(operations), operations, params)

    @cached_property
    def person_scopes(self) -> dict[str, frozenset[str]]:
        """operationId -> the scopes its `userToken` requirement lists: what an API key needs there too."""
        return {
            op["operationId"]: frozenset(
                scope for requirement in op.get("security", []) for scope in requirement.get("userToken", ())
            )
            for item in self.document["paths"].values()
            for op in item.values()
            if isinstance(op, dict) and "operationId" in op
        }

    @cached_property
    def deprecations(self) -> dict[str, dict[str, str]]:
        """operationId -> the headers every response of a `deprecated: true` operation carries: `Deprecation`
        (RFC 9745, from `x-deprecated-at`) and `Sunset` (RFC 8594, from `x-sunset`), both dates."""
        found = {}
        for item in self.document["paths"].values():
            for op in item.values():
                if isinstance(op, dict) and op.get("deprecated"):
                    since = datetime.combine(_date(op["x-deprecated-at"]), time(), UTC)
                    sunset = datetime.combine(_date(op["x-sunset"]), time(), UTC)
                    found[op["operationId"]] = {
                        "Deprecation": f"@{int(since.timestamp())}",
                        "Sunset": format_datetime(sunset, usegmt=True),
                    }
        return found

    @cached_property
    def rate_policies(self) -> dict[str, str]:
        """operationId -> the rate-limit policy it spends (web/rate_limits.py): `x-rate-limit` where the spec
        names one, else `authenticated` or `anonymous` by its security. Internal operations (the probes and
        the JWKS) spend none: a load balancer or a verifier must never be turned away; nor do those marked
        `x-rate-limit: none` (a provider's signed callbacks)."""
        policies = {
            op["operationId"]: op.get("x-rate-limit") or ("authenticated" if op.get("security") else "anonymous")
            for item in self.document["paths"].values()
            if not item.get("x-internal")
            for op in item.values()
            if isinstance(op, dict) and "operationId" in op
        }
        return {operation: policy for operation, policy in policies.items() if policy != "none"}

    def handler_name(self, operation_id: str) -> str:
        """`listPlans` tagged `Catalog` is served by `handlers.catalog.list_plans`."""
        for op in self.operations:
            if op.operation_id == operation_id:
                return f"{self.handler_package}.{_snake_case(op.tag)}.{_snake_case(operation_id)}"
        raise LookupError(f"operationId {operation_id!r} is not in the spec")

    def resolve_handler(self, operation_id: str) -> Callable[..., Any]:
        module, _, function = self.handler_name(operation_id).rpartition(".")
        return getattr(importlib.import_module(module), function)  # type: ignore[no-any-return]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m web.spec PATH (writes the public contract there, as YAML)", file=sys.stderr)
        return 2
    contract = Contract.load()
    Path(argv[0]).write_text(dump_yaml(contract.public_document), encoding="utf-8")
    left_out = sorted(set(contract.document["paths"]) - set(contract.public_document["paths"]))
    print(f"{argv[0]}: the public contract, {len(contract.public_document['paths'])} paths; internal: {left_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
