"""`bearerAuth`, the http bearer scheme Swagger UI shows a paste field for, keeps every operation's scopes.

Connexion checks no scopes for http bearer schemes (connexion#1515): a bearer function that accepted tokens
would let any valid token past `userToken`'s scope check. web.security.bearer_info accepts none, so the
header is judged by `userToken` alone, and these tests hold that in place.
"""

from __future__ import annotations

from typing import Any

import pytest
from connexion.security import NO_VALUE
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from app import create_app
from core.config import Settings
from models import Role
from tests.conftest import database_of
from tests.factories import make_business, make_member, make_user
from tests.helpers import auth_headers
from web import security
from web.spec import Contract

KEY = {"name": "crm", "scopes": ["numbers:read"]}


def _requirements() -> list[tuple[str, list[dict[str, list[str]]]]]:
    document = Contract.load().document
    return [
        (op["operationId"], op.get("security", document.get("security", [])))
        for item in document["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    ]


def test_the_bearer_function_accepts_no_token(client: TestClient, db: Session) -> None:
    user = make_user(db)
    db.commit()
    token = auth_headers(client, user.email)["Authorization"].removeprefix("Bearer ")

    assert security.bearer_info(token) is NO_VALUE


def test_a_pasted_token_without_the_operations_scope_is_refused(client: TestClient, db: Session) -> None:
    """What Swagger UI sends with a pasted token: `Authorization: Bearer <token>` on an operation listing both
    schemes. A member's token (no `keys:manage`) on createApiKey is 403; the owner's is served."""
    owner = make_user(db)
    business = make_business(db, owner=owner)
    member = make_member(db, business, role=Role.MEMBER)
    db.commit()
    operation = dict(_requirements())["createApiKey"]
    assert {"bearerAuth": []} in operation
    assert {"userToken": ["keys:manage"]} in operation

    refused = client.post("/api/v1/api-keys", json=KEY, headers=auth_headers(client, member.email))
    served = client.post("/api/v1/api-keys", json=KEY, headers=auth_headers(client, owner.email))

    assert (refused.status_code, refused.json()["code"]) == (403, "insufficient_scope")
    assert served.status_code == 201, served.text


def test_the_scopes_hold_even_through_a_scheme_connexion_passes_no_scopes(
    settings: Settings, migrated: None, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connexion gives an http bearer function no scopes (connexion#1515), so a bearer_info that accepted
    tokens once let a member create a key. The scopes are now checked against the operation's own
    requirement in the request's session (web.security), whichever scheme let the token in."""

    def accepting(token: str, request: Any) -> Any:
        return security.token_info(token, request)

    monkeypatch.setattr(security, "bearer_info", accepting)
    owner = make_user(db)
    member = make_member(db, make_business(db, owner=owner), role=Role.MEMBER)
    db.commit()

    unsafe_app = create_app(settings)
    with unsafe_app.test_client() as unsafe:
        response = unsafe.post("/api/v1/api-keys", json=KEY, headers=auth_headers(unsafe, member.email))
    database_of(unsafe_app).dispose()

    assert (response.status_code, response.json()["code"]) == (403, "insufficient_scope"), response.text
