"""The app serves exactly the spec's operations: no route outside it, none of it missing."""

from __future__ import annotations

import re

from connexion import FlaskApp
from starlette.testclient import TestClient

from web.spec import Contract

# Documentation routes that Connexion and our middleware add beside the operations.
DOCUMENTATION = {"/api/v1/ui/", "/api/v1/ui/index.html", "/api/v1/openapi.json", "/api/v1/openapi.yaml"}


def test_the_served_routes_are_the_spec_operations(app: FlaskApp, client: TestClient) -> None:
    client.get("/health-check/liveness")  # Connexion registers the routes on its first request
    served = set()
    for rule in app.app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([A-Za-z_]+)>", r"{\1}", rule.rule)
        served |= {(method, path) for method in rule.methods or () if method not in ("HEAD", "OPTIONS")}

    declared = {(op.method, op.path) for op in Contract.load().operations}

    assert served == declared


def test_every_operation_answers_its_method(client: TestClient) -> None:
    for op in Contract.load().operations:
        path = op.path.replace("{planId}", "00000000-0000-4000-8000-000000000000")
        response = client.request(op.method, path)
        assert response.status_code < 500, (op, response.text)
        assert response.status_code != 405, op
        assert response.status_code != 404 or response.json()["detail"] == "Plan not found", op


def test_documentation_routes_are_served(client: TestClient) -> None:
    for path in DOCUMENTATION:
        assert client.get(path).status_code == 200, path
