"""Which problem codes the app answered with during the test run, and whether the spec documents them.

A pytest plugin (tests/conftest.py loads it): a handler on the access log notes every problem the app
answers, as (operationId, status, code), while the suite runs; test_problem_codes, run last, checks each
against the spec. An operation documents a code in its description, in a parameter's description (the
`cursor`, `Idempotency-Key` and `If-Match` parameters name theirs), or in the description of the response
it declares for the status (an example shows one code; it documents none).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

SPEC = Path(__file__).resolve().parent.parent / "openapi" / "openapi.yaml"
LAST = "checks_what_the_suite_met"  # the marker of tests that run after every other one
_BACKTICKED = re.compile(r"`([a-z][a-z0-9_]*)`")


class ProblemRecorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.met: set[tuple[str, int, str]] = set()

    def emit(self, record: logging.LogRecord) -> None:
        operation_id, code = getattr(record, "operationId", None), getattr(record, "code", None)
        if operation_id and code:
            self.met.add((operation_id, int(getattr(record, "status", 0)), code))


RECORDER = ProblemRecorder()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{LAST}: runs after every other test, on what they met")
    logging.getLogger("switchboard.access").addHandler(RECORDER)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker(LAST) is not None)  # stable: the rest keep their order


def documented_codes(spec: dict[str, Any]) -> dict[tuple[str, int], set[str]]:
    """The codes the spec names, by operation and status (`default` under 0)."""
    documented = {}
    for path in spec["paths"].values():
        for operation in path.values():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            texts = [operation.get("description", "")]
            texts += [
                _resolved(spec, parameter).get("description", "") for parameter in operation.get("parameters", [])
            ]
            for status, response in operation["responses"].items():
                described = [*texts, _resolved(spec, response).get("description", "")]
                key = (operation["operationId"], 0 if status == "default" else int(status))
                documented[key] = {code for text in described for code in _BACKTICKED.findall(text)}
    return documented


def _resolved(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def load_spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC.read_text())  # type: ignore[no-any-return]
