"""What a customer's endpoint checks of each delivery, against the published contract: every test that receives
webhook deliveries reads them through `check_delivery` (or `verified_event`, which verifies the signature
first), so a body or header that strays from the spec's `x-webhooks` entry for its type fails the test."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from functools import cache
from typing import Any

from openapi_schema_validator import OAS30Validator, oas30_format_checker
from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook
from werkzeug import Request, Response

from web.spec import Contract

HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


@cache
def _document() -> dict[str, Any]:
    return Contract.load().document


def _validator(schema: dict[str, Any]) -> OAS30Validator:
    root = {"components": _document()["components"], **schema}
    return OAS30Validator(root, format_checker=oas30_format_checker)


def check_delivery(body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """The event a delivery carries, once its body and its signature headers are what the spec says for its
    type (an AssertionError naming the first difference otherwise)."""
    event = json.loads(body)
    assert isinstance(event, dict), body[:200]
    assert "type" in event, body[:200]
    hook = _document()["x-webhooks"].get(event["type"])
    assert hook is not None, f"{event['type']!r} is not an event of the spec's x-webhooks"
    operation = hook["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    errors = sorted(_validator(schema).iter_errors(event), key=str)
    assert not errors, f"{event['type']} does not match its schema: {errors[0]}"
    lowered = {name.lower(): value for name, value in headers.items()}
    for parameter in operation["parameters"]:
        name = _resolve(parameter)["name"]
        assert name in lowered, f"no {name} header"
        errors = sorted(_validator(_resolve(parameter)["schema"]).iter_errors(lowered[name]), key=str)
        assert not errors, f"{name}: {errors[0]}"
    assert lowered["webhook-id"] == event["id"], "the webhook-id header names another event than the body"
    return event  # type: ignore[no-any-return]


def verified_event(secret: str, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """`check_delivery`, after the signature is verified with the endpoint's secret (standardwebhooks)."""
    Webhook(secret).verify(body, dict(headers))  # raises unless signed with the secret
    return check_delivery(body, headers)


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" not in node:
        return node
    kind, name = node["$ref"].split("/")[2:4]
    return _document()["components"][kind][name]  # type: ignore[no-any-return]


class Receiver:
    """A customer's endpoint: answers from a script (then 200), and checks each delivery against the spec
    (tests/webhook_events.py); the fixture fails the test for one that strays."""

    def __init__(self, httpserver: HTTPServer) -> None:
        self.answers: list[int | float] = []  # a status to answer, or seconds to hang first
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.invalid: list[str] = []
        httpserver.expect_request("/hooks", method="POST").respond_with_handler(self.handle)
        self.url = httpserver.url_for("/hooks")

    def handle(self, request: Request) -> Response:
        self.received.append((request.get_data(), dict(request.headers)))
        try:
            check_delivery(request.get_data(), request.headers)
        except AssertionError as stray:
            self.invalid.append(str(stray))
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, float):
            time.sleep(answer)
            answer = 200
        return Response("ok", status=answer)
