"""Handlers keep one way for each habit (issue 24): web.responses' helpers build what they return, the caller comes
from web.context.caller(), Twilio's signature is the spec's security, and "local targets allowed" is one setting."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.config import PROJECT_ROOT
from web.spec import Contract

HANDLERS = sorted((PROJECT_ROOT / "handlers").glob("*.py"))
CONTRACT = Contract.load()


def _functions(path: Path) -> list[ast.FunctionDef]:
    return [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.FunctionDef)]


@pytest.mark.parametrize("path", HANDLERS, ids=lambda path: path.name)
def test_handlers_return_through_the_response_helpers(path: Path) -> None:
    """No hand-made (body, status, headers) tuple: ok, created, accepted, no_content, redirect or streamed."""
    tuples = [
        f"{path.name}:{node.lineno}"
        for function in _functions(path)
        for node in ast.walk(function)
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple)
    ]
    assert not tuples


@pytest.mark.parametrize("path", HANDLERS, ids=lambda path: path.name)
def test_handlers_get_the_caller_one_way(path: Path) -> None:
    """web.context.caller(), never Connexion's token_info or user parameters nor Caller.of. (getMetrics reads
    token_info: the metrics scraper's token is no caller.)"""
    source = path.read_text()
    taken = [
        f"{path.name}:{function.name}({arg.arg})"
        for function in _functions(path)
        for arg in function.args.args
        if arg.arg in ("token_info", "user") and (path.name, function.name) != ("health.py", "get_metrics")
    ]
    assert not taken
    assert "Caller.of(" not in source


def test_twilios_callbacks_declare_its_signature_as_their_security() -> None:
    internal = CONTRACT.document["components"]["securitySchemes"]["twilioSignature"]
    assert internal["x-internal"] is True
    assert "twilioSignature" not in CONTRACT.public_document["components"]["securitySchemes"]
    for template, item in CONTRACT.document["paths"].items():
        if template.startswith("/telephony/twilio/"):
            for op in (op for method, op in item.items() if method == "post"):
                # {}: a request without the header meets the required parameter's 400 (see the scheme).
                assert op["security"] == [{"twilioSignature": []}, {}], op["operationId"]


def test_no_handler_checks_twilios_signature_itself() -> None:
    telephony = (PROJECT_ROOT / "handlers" / "telephony.py").read_text()
    assert "check_signature" not in telephony
    assert "X-Twilio-Signature" not in telephony


def test_local_targets_are_allowed_by_one_setting() -> None:
    """`app_env != "production"` is spelled once, as Settings.allow_local_targets, not where it is used."""
    spelled = [
        str(path.relative_to(PROJECT_ROOT))
        for folder in ("handlers", "web", "services", "connectors")
        for path in sorted((PROJECT_ROOT / folder).glob("*.py"))
        if "allow_local" in path.read_text() and '!= "production"' in path.read_text()
    ]
    assert not spelled
    assert "allow_local=settings.allow_local_targets" in (PROJECT_ROOT / "worker.py").read_text()
