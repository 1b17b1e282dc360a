"""The OpenAPI document, read once: the single source of routes, handlers and allowed methods."""

from __future__ import annotations

import copy
import importlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi" / "openapi.yaml"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str  # full path as served, e.g. /api/v1/plans/{planId}
    operation_id: str
    tag: str


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _path_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", template)
    regex = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
    return re.compile(regex)


@dataclass(frozen=True)
class Contract:
    text: str  # the YAML exactly as written, served at {base}/openapi.yaml
    document: dict[str, Any] = field(repr=False)
    handler_package: str = "handlers"

    @classmethod
    def load(cls, path: Path = SPEC_PATH, handler_package: str = "handlers") -> Contract:
        text = path.read_text(encoding="utf-8")
        return cls(text=text, document=yaml.safe_load(text), handler_package=handler_package)

    @property
    def base_path(self) -> str:
        return str(self.document["servers"][0]["url"]).rstrip("/")

    def _server_of(self, path_item: dict[str, Any]) -> str:
        # OpenAPI lets a path item name its own server (the probes live at the root, outside /api/v1).
        # Connexion ignores path-level servers, so the app mounts one API per server instead.
        servers = path_item.get("servers")
        return str(servers[0]["url"]).rstrip("/") if servers else self.base_path

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
    def _routes(self) -> tuple[tuple[re.Pattern[str], int, frozenset[str]], ...]:
        methods: dict[str, set[str]] = {}
        for op in self.operations:
            methods.setdefault(op.path, set()).add(op.method)
        return tuple((_path_pattern(path), path.count("{"), frozenset(allowed)) for path, allowed in methods.items())

    def allowed_methods(self, path: str) -> frozenset[str] | None:
        """The methods the spec declares for a concrete request path, or None if no path matches.

        As OpenAPI says, a concrete path wins over a template that also matches it: /admin/jobs/cleanup
        is that path, not /admin/jobs/{jobId} with jobId "cleanup".
        """
        matching = [(params, allowed) for pattern, params, allowed in self._routes if pattern.fullmatch(path)]
        if not matching:
            return None
        fewest = min(params for params, _ in matching)
        return frozenset().union(*(allowed for params, allowed in matching if params == fewest))

    def handler_name(self, operation_id: str) -> str:
        """`listPlans` tagged `Catalog` is served by `handlers.catalog.list_plans`."""
        for op in self.operations:
            if op.operation_id == operation_id:
                return f"{self.handler_package}.{_snake_case(op.tag)}.{_snake_case(operation_id)}"
        raise LookupError(f"operationId {operation_id!r} is not in the spec")

    def resolve_handler(self, operation_id: str) -> Callable[..., Any]:
        module, _, function = self.handler_name(operation_id).rpartition(".")
        return getattr(importlib.import_module(module), function)  # type: ignore[no-any-return]
