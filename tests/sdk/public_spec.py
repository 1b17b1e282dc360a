"""Writes the public bundle the SDKs are generated from: openapi/openapi.yaml without what is `x-internal`.

Like Redocly's `remove-x-internal` decorator: any path item, operation, parameter, schema or property marked
`x-internal: true` is left out, and a path item left without operations goes with it. Components that only
the left-out parts used go too (else generators make models nothing returns and warn "Unused model");
components the whole document never used stay. Nothing else changes: integers keep their exact value
(Redocly 2.77's bundle rounds int64 bounds through a JavaScript double, 2^63-1 becoming 9223372036854776000,
and has no --remove-x-internal flag any more).
  python tests/sdk/public_spec.py openapi/openapi.yaml reports/sdk/public.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _internal(node: Any) -> bool:
    return isinstance(node, dict) and node.get("x-internal") is True


def strip_internal(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: strip_internal(value) for key, value in node.items() if not _internal(value)}
    if isinstance(node, list):
        return [strip_internal(item) for item in node if not _internal(item)]
    return node


def _used(document: dict[str, Any]) -> set[str]:
    """The components (`#/components/KIND/NAME`) reachable from everything outside `components`."""
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
    for item in document.get("paths", {}).values():
        requirements += [req for method, op in item.items() if method in METHODS for req in op.get("security", [])]
    found.update(f"#/components/securitySchemes/{name}" for requirement in requirements for name in requirement)
    return found


def public(document: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = strip_internal(document)
    result["paths"] = {
        path: item for path, item in result.get("paths", {}).items() if METHODS & set(item) or "$ref" in item
    }
    orphaned = _used(document) - _used(result)
    for kind, entries in result.get("components", {}).items():
        for name in [name for name in entries if f"#/components/{kind}/{name}" in orphaned]:
            del entries[name]
    return result


def main(source: str, target: str) -> None:
    document = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
    bundle = public(document)
    Path(target).write_text(yaml.safe_dump(bundle, sort_keys=False, allow_unicode=True), encoding="utf-8")
    paths = sorted(set(document.get("paths", {})) - set(bundle["paths"]))
    components = sorted(
        f"{kind}/{name}"
        for kind, entries in document.get("components", {}).items()
        for name in entries
        if name not in bundle.get("components", {}).get(kind, {})
    )
    print(f"public bundle {target}: {len(bundle['paths'])} paths; left out as x-internal: {paths or 'none'}")
    print(f"components only they used, left out too: {components or 'none'}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
