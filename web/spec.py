"""The OpenAPI document, read once: the single source of routes, handlers and allowed methods."""

from __future__ import annotations

import copy
import importlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?")


def _path_of(server: dict[str, Any]) -> str:
    defaults = {name: str(variable["default"]) for name, variable in server.get("variables", {}).items()}
    return urlsplit(str(server["url"]).format(**defaults)).path.rstrip("/")


def _path_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", template)
    regex = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
    return re.compile(regex)


_Template = tuple[re.Pattern[str], int, frozenset[str]]  # (pattern, parameters, allowed methods)


@dataclass(frozen=True)
class Contract:
    text: str  # the YAML exactly as written, served at {base}/openapi.yaml
    document: dict[str, Any] = field(repr=False)
    handler_package: str = "handlers"
    _served: dict[tuple[str, str], bytes] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def load(cls, path: Path = SPEC_PATH, handler_package: str = "handlers") -> Contract:
        text = path.read_text(encoding="utf-8")
        return cls(text=text, document=yaml.safe_load(text), handler_package=handler_package)

    @property
    def base_path(self) -> str:
        """The path part of the first server's URL (`{scheme}://{host}/api/v1` -> /api/v1)."""
        return _path_of(self.document["servers"][0])

    def _server_of(self, path_item: dict[str, Any]) -> str:
        # OpenAPI lets a path item name its own server (the probes live at the root, outside /api/v1).
        # Connexion ignores path-level servers, so the app mounts one API per server instead.
        servers = path_item.get("servers")
        return _path_of(servers[0]) if servers else self.base_path

    def served_json(self, scheme: str, host: str) -> bytes:
        """The document as JSON, its server's defaults naming the deployment that serves it (so Swagger UI
        and an SDK generated from this copy reach it); an implausible Host keeps the spec's defaults."""
        key = (scheme if scheme in ("http", "https") else "", host if _HOST.fullmatch(host) else "")
        if key not in self._served:
            if len(self._served) >= 16:  # Host is the client's to choose: keep a few copies at most
                self._served.clear()
            document = copy.deepcopy(self.document)
            variables = document["servers"][0].get("variables", {})
            for name, value in zip(("scheme", "host"), key, strict=True):
                if value and name in variables:
                    variables[name]["default"] = value
            self._served[key] = json.dumps(document, default=str).encode()
        return self._served[key]

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
                    found.append(
                        Operation(method.upper(), self._server_of(item) + template, op["operationId"], op["tags"][0])
                    )
        return tuple(found)

    @cached_property
    def _routes(self) -> tuple[dict[str, frozenset[str]], dict[int, list[_Template]]]:
        """Literal paths by path, and templates by their number of segments (a parameter is one segment)."""
        methods: dict[str, set[str]] = {}
        for op in self.operations:
            methods.setdefault(op.path, set()).add(op.method)
        literal: dict[str, frozenset[str]] = {}
        templates: dict[int, list[_Template]] = {}
        for path, allowed in methods.items():
            if "{" in path:
                template = (_path_pattern(path), path.count("{"), frozenset(allowed))
                templates.setdefault(path.count("/"), []).append(template)
            else:
                literal[path] = frozenset(allowed)
        return literal, templates

    def allowed_methods(self, path: str) -> frozenset[str] | None:
        """The methods the spec declares for a concrete request path, or None if no path matches.

        As OpenAPI says, a concrete path wins over a template that also matches it: /admin/jobs/cleanup
        is that path, not /admin/jobs/{jobId} with jobId "cleanup".
        """
        literal, templates = self._routes
        if path in literal:
            return literal[path]
        candidates = templates.get(path.count("/"), ())
        matching = [(params, allowed) for pattern, params, allowed in candidates if pattern.fullmatch(path)]
        if not matching:
            return None
        fewest = min(params for params, _ in matching)
        return frozenset().union(*(allowed for params, allowed in matching if params == fewest))

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
