"""Every operation of the served document is where the document says, as a generated SDK would call it.

Generators build each function's URL from the document's first server (its variables at their defaults; the
served copy names the deployment that served it) and the operation's path; they ignore path-level servers.
So for each operation this sends its method to exactly that URL, with a placeholder in each path parameter,
no credentials and no body, and fails if the router does not know the path (404 "No resource at this path"),
the method guard refuses the method (405), or the server errs (5xx). Anything else (401, 400, 415, 200, ...)
means the request reached the operation's own checks. Stdlib only:
  python tests/sdk/every_operation_routed.py http://127.0.0.1:3001/api/v1/openapi.json
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any

METHODS = ("get", "put", "post", "delete", "patch")  # what the spec uses; HEAD/OPTIONS/TRACE it never declares
ROUTER_404 = "No resource at this path"  # web/errors.py: the router's answer to a path it does not know
PLACEHOLDER_UUID = "00000000-0000-4000-8000-000000000000"


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - the local server we were given
        return json.loads(response.read())  # type: ignore[no-any-return]


def _server_url(document: dict[str, Any]) -> str:
    server = document["servers"][0]
    defaults = {name: variable["default"] for name, variable in server.get("variables", {}).items()}
    return str(server["url"]).format(**defaults).rstrip("/")


def _resolved(parameter: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in parameter:
        return components["parameters"][parameter["$ref"].rsplit("/", 1)[1]]  # type: ignore[no-any-return]
    return parameter


def _path_placeholders(parameters: list[dict[str, Any]], components: dict[str, Any]) -> dict[str, str]:
    """A value for each path parameter: a UUID where it is one, else a word (any value reaches the router)."""
    found = (_resolved(parameter, components) for parameter in parameters)
    return {
        parameter["name"]: PLACEHOLDER_UUID if parameter.get("schema", {}).get("format") == "uuid" else "placeholder"
        for parameter in found
        if parameter["in"] == "path"
    }


def _answer(method: str, url: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, method=method, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, {}
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            problem = json.loads(body) if body else {}
        except ValueError:
            problem = {}
        return error.code, problem if isinstance(problem, dict) else {}


def main(spec_url: str) -> int:
    document = _get(spec_url)
    base = _server_url(document)
    components = document.get("components", {})
    passed = failed = 0
    for template, item in document["paths"].items():
        for method in (method for method in METHODS if method in item):
            operation = item[method]
            parameters = [*item.get("parameters", []), *operation.get("parameters", [])]
            path = template
            for name, value in _path_placeholders(parameters, components).items():
                path = path.replace(f"{{{name}}}", value)
            status, problem = _answer(method.upper(), base + path)
            unrouted = (status == 404 and problem.get("detail") == ROUTER_404) or status == 405 or status >= 500
            verdict = "FAILED" if unrouted else "ok"
            print(f"{verdict:6} {method.upper():6} {base + path} -> {status} {problem.get('code') or ''}".rstrip())
            if unrouted:
                failed += 1
            else:
                passed += 1
    print(f"every-operation-routed: {passed} passed, {failed} failed (server {base})")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
